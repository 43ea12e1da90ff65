//! Every text a phone shows or receives, in English, Portuguese and Swahili.
//!
//! All templates are in the GSM-7 default alphabet (a test checks): Portuguese is written
//! without the letters GSM-7 lacks (`ã`, `ç`, `ê`, `á`, `ú`, ...: "transacoes", "Opcao",
//! "digitos"), which is how Brazilian and Mozambican USSD services write it too. Names coming
//! from accounts are transliterated by [`crate::gsm7::transliterate`] before they are shown.
//!
//! Amounts are [`Money`] formatted as `50.00 BRL`: the decimal point is a `.` in every
//! language, because that is what the amount prompt accepts.

use ferry_proto::{Money, UnixTime};
use serde::{Deserialize, Serialize};

use crate::sms::NoticeKind;

/// A language of screens and SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// English.
    En,
    /// Portuguese.
    Pt,
    /// Swahili.
    Sw,
}

impl Language {
    /// Every language, in menu order (choice 1, 2, 3).
    pub const ALL: [Language; 3] = [Language::En, Language::Pt, Language::Sw];

    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Pt => "pt",
            Language::Sw => "sw",
        }
    }

    /// Looks a language up by its ISO 639-1 code.
    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The language chosen by menu input `"1"`, `"2"` or `"3"`.
    pub fn from_choice(input: &str) -> Option<Language> {
        match input {
            "1" => Some(Language::En),
            "2" => Some(Language::Pt),
            "3" => Some(Language::Sw),
            _ => None,
        }
    }
}

macro_rules! catalog {
    ($($(#[$doc:meta])* $key:ident => $en:expr, $pt:expr, $sw:expr;)*) => {
        /// A template of the catalog. `{name}` marks where [`fill`] puts a value.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Key {
            $($(#[$doc])* $key,)*
        }

        impl Key {
            /// Every key.
            pub const ALL: &'static [Key] = &[$(Key::$key),*];

            /// The template in `lang`.
            pub fn template(self, lang: Language) -> &'static str {
                match self {
                    $(Key::$key => match lang {
                        Language::En => $en,
                        Language::Pt => $pt,
                        Language::Sw => $sw,
                    },)*
                }
            }
        }
    };
}

catalog! {
    /// Main menu.
    Main =>
        "Ferry\n1 Send money\n2 Balance\n3 Last 5 transactions\n4 Cash out at agent\n5 Settings\n6 Vouchers",
        "Ferry\n1 Enviar dinheiro\n2 Saldo\n3 Ultimas 5 transacoes\n4 Sacar com agente\n5 Configuracoes\n6 Vouchers",
        "Ferry\n1 Tuma pesa\n2 Salio\n3 Miamala 5 ya mwisho\n4 Toa pesa kwa wakala\n5 Mipangilio\n6 Vocha";
    /// First screen of an unknown number.
    RegLanguage =>
        "Welcome to Ferry. Choose language:",
        "Bem-vindo ao Ferry. Escolha o idioma:",
        "Karibu Ferry. Chagua lugha:";
    /// The language list (same in every language: each name in its own language).
    LanguageList =>
        "1 English\n2 Portugues\n3 Kiswahili",
        "1 English\n2 Portugues\n3 Kiswahili",
        "1 English\n2 Portugues\n3 Kiswahili";
    /// Choose a PIN.
    RegPin =>
        "Choose a PIN of 4 to 6 digits:",
        "Escolha um PIN de 4 a 6 digitos:",
        "Chagua PIN ya tarakimu 4 hadi 6:";
    /// Repeat the PIN.
    RegPinConfirm =>
        "Enter the same PIN again:",
        "Digite o mesmo PIN de novo:",
        "Weka PIN hiyo tena:";
    /// Recipient prompt.
    SendTo =>
        "Enter the recipient's phone number:",
        "Digite o telefone do destinatario:",
        "Weka namba ya simu ya mpokeaji:";
    /// Amount prompt for a send.
    SendAmount =>
        "Send to {to}{name}.\nEnter amount in {cur}:",
        "Enviar para {to}{name}.\nDigite o valor em {cur}:",
        "Tuma kwa {to}{name}.\nWeka kiasi kwa {cur}:";
    /// PIN prompt.
    EnterPin =>
        "Enter your PIN:",
        "Digite seu PIN:",
        "Weka PIN yako:";
    /// Send confirmation.
    SendConfirm =>
        "Send {amount} to {to}{name}?\n1 Confirm\n2 Cancel",
        "Enviar {amount} para {to}{name}?\n1 Confirmar\n2 Cancelar",
        "Tuma {amount} kwa {to}{name}?\n1 Thibitisha\n2 Ghairi";
    /// Balance.
    Balance =>
        "Balance: {amount}",
        "Saldo: {amount}",
        "Salio: {amount}";
    /// History heading.
    HistoryTitle =>
        "Last transactions:",
        "Ultimas transacoes:",
        "Miamala ya mwisho:";
    /// Empty history.
    HistoryEmpty =>
        "No transactions yet.",
        "Nenhuma transacao ainda.",
        "Hakuna miamala bado.";
    /// Cash-out amount prompt.
    CashAmount =>
        "Cash out at an agent.\nEnter amount in {cur}:",
        "Saque com agente.\nDigite o valor em {cur}:",
        "Toa pesa kwa wakala.\nWeka kiasi kwa {cur}:";
    /// Cash-out confirmation.
    CashConfirm =>
        "Cash out {amount} at an agent?\n1 Confirm\n2 Cancel",
        "Sacar {amount} com um agente?\n1 Confirmar\n2 Cancelar",
        "Toa {amount} kwa wakala?\n1 Thibitisha\n2 Ghairi";
    /// Settings menu.
    Settings =>
        "Settings\n1 Change PIN\n2 Language",
        "Configuracoes\n1 Mudar PIN\n2 Idioma",
        "Mipangilio\n1 Badilisha PIN\n2 Lugha";
    /// Current PIN prompt.
    OldPin =>
        "Enter your current PIN:",
        "Digite seu PIN atual:",
        "Weka PIN yako ya sasa:";
    /// New PIN prompt.
    NewPin =>
        "Enter a new PIN of 4 to 6 digits:",
        "Digite o novo PIN de 4 a 6 digitos:",
        "Weka PIN mpya ya tarakimu 4 hadi 6:";
    /// New PIN repeat.
    NewPinConfirm =>
        "Enter the new PIN again:",
        "Digite o novo PIN de novo:",
        "Weka PIN mpya tena:";
    /// Language menu.
    LanguageMenu =>
        "Choose language:",
        "Escolha o idioma:",
        "Chagua lugha:";
    /// Voucher menu.
    VoucherMenu =>
        "Vouchers\n1 Create voucher\n2 My vouchers",
        "Vouchers\n1 Criar voucher\n2 Meus vouchers",
        "Vocha\n1 Tengeneza vocha\n2 Vocha zangu";
    /// Voucher amount prompt.
    VoucherAmount =>
        "New voucher, to be redeemed by others.\nEnter amount in {cur}:",
        "Novo voucher, para outros resgatarem.\nDigite o valor em {cur}:",
        "Vocha mpya, kwa wengine kuikomboa.\nWeka kiasi kwa {cur}:";
    /// Voucher lifetime prompt.
    VoucherHours =>
        "Voucher of {amount}.\nValid for how many hours (1-12)?",
        "Voucher de {amount}.\nValido por quantas horas (1-12)?",
        "Vocha ya {amount}.\nIfae kwa saa ngapi (1-12)?";
    /// Voucher password prompt.
    VoucherPassword =>
        "Choose the voucher password (6-24 characters). Tell it only to who you pay:",
        "Escolha a senha do voucher (6-24 caracteres). Diga so a quem voce paga:",
        "Chagua nenosiri la vocha (herufi 6-24). Mwambie tu unayemlipa:";
    /// Voucher password repeat.
    VoucherPasswordConfirm =>
        "Enter the voucher password again:",
        "Digite a senha do voucher de novo:",
        "Weka nenosiri la vocha tena:";
    /// Voucher confirmation (the choices follow).
    VoucherConfirm =>
        "Voucher {amount}, {h} h. Fee {fee}. Create?",
        "Voucher {amount}, {h} h. Tarifa {fee}. Criar?",
        "Vocha {amount}, saa {h}. Ada {fee}. Tengeneza?";
    /// What a voucher holds from the balance in all (dropped when the screen is full).
    VoucherTotal =>
        "Total held: {total}",
        "Total retido: {total}",
        "Jumla inayoshikiliwa: {total}";
    /// Confirm or cancel.
    ConfirmChoices =>
        "1 Confirm\n2 Cancel",
        "1 Confirmar\n2 Cancelar",
        "1 Thibitisha\n2 Ghairi";
    /// Heading of the open vouchers.
    VoucherListTitle =>
        "Open vouchers. Choose one to invalidate:",
        "Vouchers abertos. Escolha um para invalidar:",
        "Vocha zilizo wazi. Chagua moja kuibatilisha:";
    /// No open vouchers.
    VoucherListEmpty =>
        "You have no open vouchers.",
        "Voce nao tem vouchers abertos.",
        "Huna vocha zilizo wazi.";
    /// Invalidation confirmation.
    VoucherInvalidateConfirm =>
        "Invalidate voucher {ref} ({remaining} left)?",
        "Invalidar voucher {ref} ({remaining} restantes)?",
        "Batilisha vocha {ref} ({remaining} imebaki)?";
    /// Where the rest of an invalidated voucher goes (dropped when the screen is full).
    VoucherInvalidateRest =>
        "What is left returns to your balance.",
        "O que resta volta para seu saldo.",
        "Kilichobaki kinarudi kwenye salio lako.";
    /// Footer of screens below the main menu.
    Nav =>
        "0 Back 00 Main menu",
        "0 Voltar 00 Menu",
        "0 Rudi 00 Menyu kuu";
    /// Footer of registration screens.
    NavBack =>
        "0 Back",
        "0 Voltar",
        "0 Rudi";
    /// Note: account created.
    NoteRegistered => "Account created.", "Conta criada.", "Akaunti imefunguliwa.";
    /// Note: unknown menu choice.
    NoteInvalidChoice => "Invalid choice.", "Opcao invalida.", "Chaguo si sahihi.";
    /// Note: not a phone number.
    NoteBadPhone =>
        "Invalid phone number. Use +country code or 0 and the number.",
        "Telefone invalido. Use +codigo do pais ou 0 e o numero.",
        "Namba si sahihi. Tumia +msimbo wa nchi au 0 na namba.";
    /// Note: no account for that number.
    NoteUnknownRecipient =>
        "{to} has no Ferry account.",
        "{to} nao tem conta Ferry.",
        "{to} hana akaunti ya Ferry.";
    /// Note: sending to oneself.
    NoteSelfPayment =>
        "You cannot send money to yourself.",
        "Voce nao pode enviar para si mesmo.",
        "Huwezi kujitumia pesa.";
    /// Note: not an amount.
    NoteBadAmount =>
        "Invalid amount. Use digits, e.g. 50 or 50.25.",
        "Valor invalido. Use digitos, ex. 50 ou 50.25.",
        "Kiasi si sahihi. Tumia tarakimu, mfano 50 au 50.25.";
    /// Note: too many decimals.
    NoteTooManyDecimals =>
        "Use at most {n} decimals.",
        "Use no maximo {n} casas decimais.",
        "Tumia desimali {n} tu.";
    /// Note: zero or negative amount.
    NoteNotPositive =>
        "Amount must be above zero.",
        "O valor deve ser maior que zero.",
        "Kiasi lazima kiwe zaidi ya sifuri.";
    /// Note: PIN format.
    NoteBadPin => "A PIN is 4 to 6 digits.", "O PIN tem de 4 a 6 digitos.", "PIN ni tarakimu 4 hadi 6.";
    /// Note: guessable PIN.
    NoteWeakPin =>
        "PIN too easy to guess. Avoid 1111 or 1234.",
        "PIN facil demais. Evite 1111 ou 1234.",
        "PIN ni rahisi mno. Epuka 1111 au 1234.";
    /// Note: the two PINs differ.
    NotePinMismatch => "The PINs do not match.", "Os PINs nao conferem.", "PIN hazilingani.";
    /// Note: new PIN equals the old.
    NoteSamePin =>
        "The new PIN must differ from the old one.",
        "O novo PIN deve ser diferente do atual.",
        "PIN mpya lazima iwe tofauti na ya zamani.";
    /// Note: wrong PIN.
    NoteWrongPin =>
        "Wrong PIN. {n} tries left.",
        "PIN errado. Restam {n} tentativas.",
        "PIN si sahihi. Majaribio {n} yamebaki.";
    /// Note: over-long input.
    NoteTooLong => "Input too long.", "Entrada longa demais.", "Uliyoweka ni ndefu mno.";
    /// Note: not 1 to 12 whole hours.
    NoteBadHours =>
        "Enter whole hours from 1 to 12.",
        "Digite horas inteiras de 1 a 12.",
        "Weka saa kamili kuanzia 1 hadi 12.";
    /// Note: voucher password format.
    NoteBadVoucherPassword =>
        "A voucher password is 6 to 24 characters.",
        "A senha do voucher tem de 6 a 24 caracteres.",
        "Nenosiri la vocha ni herufi 6 hadi 24.";
    /// Note: the two voucher passwords differ.
    NotePasswordMismatch =>
        "The passwords do not match.",
        "As senhas nao conferem.",
        "Manenosiri hayalingani.";
    /// Note: language saved.
    NoteLanguageSaved => "Language saved.", "Idioma salvo.", "Lugha imehifadhiwa.";
    /// End: sent.
    EndSent =>
        "Sent {amount} to {to}. Fee {fee}. Balance {balance}.",
        "Enviado {amount} para {to}. Tarifa {fee}. Saldo {balance}.",
        "Umetuma {amount} kwa {to}. Ada {fee}. Salio {balance}.";
    /// End: insufficient balance for a send.
    EndInsufficient =>
        "Not enough balance ({balance}). Nothing was sent.",
        "Saldo insuficiente ({balance}). Nada foi enviado.",
        "Salio halitoshi ({balance}). Hakuna kilichotumwa.";
    /// End: daily limit on a send.
    EndOverDaily =>
        "Over your daily limit. You can still send {remaining} today.",
        "Acima do seu limite diario. Ainda pode enviar {remaining} hoje.",
        "Umezidi kikomo cha siku. Unaweza kutuma {remaining} leo.";
    /// End: the recipient's cap.
    EndRecipientLimit =>
        "The recipient cannot receive this amount. Nothing was sent.",
        "O destinatario nao pode receber este valor. Nada foi enviado.",
        "Mpokeaji hawezi kupokea kiasi hiki. Hakuna kilichotumwa.";
    /// End: unknown recipient at send time.
    EndUnknownRecipient =>
        "{to} has no Ferry account. Nothing was sent.",
        "{to} nao tem conta Ferry. Nada foi enviado.",
        "{to} hana akaunti ya Ferry. Hakuna kilichotumwa.";
    /// End: amount refused by the backend.
    EndInvalidAmount =>
        "Invalid amount. Nothing was sent.",
        "Valor invalido. Nada foi enviado.",
        "Kiasi si sahihi. Hakuna kilichotumwa.";
    /// End: cancelled.
    EndCancelled =>
        "Cancelled. Nothing was sent.",
        "Cancelado. Nada foi enviado.",
        "Imeghairiwa. Hakuna kilichotumwa.";
    /// End: cash-out code.
    EndCashCode =>
        "Cash-out code: {code}\nShow it to the agent with your ID. Amount {amount}, fee {fee}. Valid for {min} min.",
        "Codigo de saque: {code}\nMostre ao agente com seu documento. Valor {amount}, tarifa {fee}. Valido por {min} min.",
        "Namba ya kutoa pesa: {code}\nMwonyeshe wakala na kitambulisho. Kiasi {amount}, ada {fee}. Inafaa dakika {min}.";
    /// End: insufficient balance for a cash out.
    EndCashInsufficient =>
        "Not enough balance ({balance}). No code was issued.",
        "Saldo insuficiente ({balance}). Nenhum codigo foi gerado.",
        "Salio halitoshi ({balance}). Hakuna namba iliyotolewa.";
    /// End: daily limit on a cash out.
    EndCashOverDaily =>
        "Over your daily limit. You can still cash out {remaining} today.",
        "Acima do seu limite diario. Ainda pode sacar {remaining} hoje.",
        "Umezidi kikomo cha siku. Unaweza kutoa {remaining} leo.";
    /// End: locked.
    EndLocked =>
        "Too many wrong PINs. Try again in {min} min.",
        "PIN errado vezes demais. Tente de novo em {min} min.",
        "PIN si sahihi mara nyingi mno. Jaribu tena baada ya dakika {min}.";
    /// End: a risk rule held the payment.
    EndRiskHold =>
        "Too many payments in a short time. For your safety nothing was sent. Try again later or ask your agent.",
        "Pagamentos demais em pouco tempo. Por seguranca nada foi enviado. Tente mais tarde ou fale com seu agente.",
        "Malipo mengi mno kwa muda mfupi. Kwa usalama wako hakuna kilichotumwa. Jaribu baadaye au muulize wakala wako.";
    /// End: voucher created.
    EndVoucherCreated =>
        "Voucher {ref} created: {amount}, valid {h} h, fee {fee}. Its code comes by SMS. Give code and password only to who you pay.",
        "Voucher {ref} criado: {amount}, valido {h} h, tarifa {fee}. O codigo chega por SMS. De codigo e senha so a quem voce paga.",
        "Vocha {ref} imetengenezwa: {amount}, saa {h}, ada {fee}. Namba yake inakuja kwa SMS. Mpe tu unayemlipa namba na nenosiri.";
    /// End: insufficient balance for a voucher.
    EndVoucherInsufficient =>
        "Not enough balance ({balance}) for amount and fees. No voucher was created.",
        "Saldo insuficiente ({balance}) para valor e tarifas. Nenhum voucher foi criado.",
        "Salio halitoshi ({balance}) kwa kiasi na ada. Hakuna vocha iliyotengenezwa.";
    /// End: daily limit on a voucher.
    EndVoucherOverDaily =>
        "Over your daily limit. You can still use {remaining} today. No voucher was created.",
        "Acima do seu limite diario. Ainda pode usar {remaining} hoje. Nenhum voucher foi criado.",
        "Umezidi kikomo cha siku. Unaweza kutumia {remaining} leo. Hakuna vocha iliyotengenezwa.";
    /// End: the emitter blocked voucher creation.
    EndVoucherBlocked =>
        "Voucher creation is blocked on your account. Unblock it in your wallet app or ask your agent.",
        "A criacao de vouchers esta bloqueada na sua conta. Desbloqueie no app ou fale com seu agente.",
        "Kutengeneza vocha kumezuiwa kwenye akaunti yako. Fungua kwenye programu au muulize wakala wako.";
    /// End: a risk rule held a voucher.
    EndVoucherRiskHold =>
        "Too many vouchers or payments in a short time. For your safety no voucher was created. Try again later or ask your agent.",
        "Vouchers ou pagamentos demais em pouco tempo. Por seguranca nenhum voucher foi criado. Tente mais tarde ou fale com seu agente.",
        "Vocha au malipo mengi mno kwa muda mfupi. Kwa usalama wako hakuna vocha iliyotengenezwa. Jaribu baadaye au muulize wakala wako.";
    /// End: vouchers not offered.
    EndVoucherUnavailable =>
        "Vouchers are not available on this service.",
        "Vouchers nao estao disponiveis neste servico.",
        "Vocha hazipatikani kwenye huduma hii.";
    /// End: voucher invalidated.
    EndVoucherInvalidated =>
        "Voucher {ref} invalidated. {returned} returned to your balance.",
        "Voucher {ref} invalidado. {returned} voltou para seu saldo.",
        "Vocha {ref} imebatilishwa. {returned} imerudi kwenye salio lako.";
    /// End: the voucher was closed already.
    EndVoucherClosed =>
        "Voucher {ref} is no longer open. Nothing changed.",
        "O voucher {ref} nao esta mais aberto. Nada mudou.",
        "Vocha {ref} haiko wazi tena. Hakuna kilichobadilika.";
    /// End: PIN changed.
    EndPinChanged => "Your PIN was changed.", "Seu PIN foi alterado.", "PIN yako imebadilishwa.";
    /// End: PIN change refused.
    EndPinNotChanged =>
        "PIN not changed. Please try again.",
        "PIN nao alterado. Tente de novo.",
        "PIN haijabadilishwa. Jaribu tena.";
    /// End: session timed out.
    EndExpired =>
        "Session timed out. Please dial again.",
        "Sessao expirada. Disque de novo.",
        "Muda wa kikao umeisha. Piga tena.";
    /// End: inconsistent session.
    EndSessionError =>
        "Sorry, something went wrong. Please dial again.",
        "Desculpe, algo deu errado. Disque de novo.",
        "Samahani, kuna hitilafu. Piga tena.";
    /// End: too many inputs in one session.
    EndTooManyInputs =>
        "Too many steps. Please dial again.",
        "Passos demais. Disque de novo.",
        "Hatua nyingi mno. Piga tena.";
    /// End: registered elsewhere meanwhile.
    EndAlreadyRegistered =>
        "This number already has an account. Please dial again.",
        "Este numero ja tem conta. Disque de novo.",
        "Namba hii tayari ina akaunti. Piga tena.";
    /// End: backend unavailable (for the server's use).
    EndUnavailable =>
        "Service unavailable. Please try again later.",
        "Servico indisponivel. Tente mais tarde.",
        "Huduma haipatikani. Jaribu baadaye.";
    /// SMS: received.
    SmsReceived =>
        "Ferry: You received {amount} from {from}. Balance {balance}.",
        "Ferry: Voce recebeu {amount} de {from}. Saldo {balance}.",
        "Ferry: Umepokea {amount} kutoka {from}. Salio {balance}.";
    /// SMS: an offline payment to this account settled.
    SmsPaymentSettled =>
        "Ferry: A payment of {amount} to your account has settled. Balance {balance}.",
        "Ferry: Um pagamento de {amount} para sua conta foi liquidado. Saldo {balance}.",
        "Ferry: Malipo ya {amount} kwenye akaunti yako yamekamilika. Salio {balance}.";
    /// SMS: an offline payment this account made settled.
    SmsPaymentSentSettled =>
        "Ferry: Your payment of {amount} has settled. The payee has the money.",
        "Ferry: Seu pagamento de {amount} foi liquidado. O recebedor ja tem o dinheiro.",
        "Ferry: Malipo yako ya {amount} yamekamilika. Mpokeaji amepata pesa.";
    /// SMS: sent.
    SmsSent =>
        "Ferry: You sent {amount} to {to}. Fee {fee}. Balance {balance}.",
        "Ferry: Voce enviou {amount} para {to}. Tarifa {fee}. Saldo {balance}.",
        "Ferry: Umetuma {amount} kwa {to}. Ada {fee}. Salio {balance}.";
    /// SMS: cash-out code.
    SmsCashCode =>
        "Ferry: Cash-out code {code} for {amount}, valid {min} min. Show it only to the agent.",
        "Ferry: Codigo de saque {code} de {amount}, valido {min} min. Mostre so ao agente.",
        "Ferry: Namba ya kutoa pesa {code} ya {amount}, dakika {min}. Mwonyeshe wakala tu.";
    /// SMS: cashed out.
    SmsCashedOut =>
        "Ferry: You cashed out {amount}. Balance {balance}.",
        "Ferry: Voce sacou {amount}. Saldo {balance}.",
        "Ferry: Umetoa {amount}. Salio {balance}.";
    /// SMS: locked.
    SmsLocked =>
        "Ferry: 3 wrong PINs. USSD locked for {min} min. If this was not you, see an agent.",
        "Ferry: 3 PINs errados. USSD bloqueado por {min} min. Se nao foi voce, procure um agente.",
        "Ferry: PIN 3 si sahihi. USSD imefungwa dakika {min}. Kama si wewe, mwone wakala.";
    /// SMS: PIN changed.
    SmsPinChanged =>
        "Ferry: Your PIN was changed. If this was not you, see an agent.",
        "Ferry: Seu PIN foi alterado. Se nao foi voce, procure um agente.",
        "Ferry: PIN yako imebadilishwa. Kama si wewe, mwone wakala.";
    /// SMS: registered.
    SmsRegistered =>
        "Ferry: Your account is ready. Never tell anyone your PIN.",
        "Ferry: Sua conta esta pronta. Nunca conte seu PIN a ninguem.",
        "Ferry: Akaunti yako iko tayari. Usimwambie mtu PIN yako.";
    /// SMS: cash taken in by an agent.
    SmsCashedIn =>
        "Ferry: An agent credited {amount} to your account. Balance {balance}.",
        "Ferry: Um agente creditou {amount} na sua conta. Saldo {balance}.",
        "Ferry: Wakala ameweka {amount} kwenye akaunti yako. Salio {balance}.";
    /// SMS: a voucher's text form (what a receiver types or pastes to redeem it).
    SmsVoucher =>
        "Ferry voucher {ref}: {amount}, {h} h. Give it and the password only to who you pay:\n{voucher}",
        "Ferry voucher {ref}: {amount}, {h} h. De com a senha so a quem voce paga:\n{voucher}",
        "Ferry vocha {ref}: {amount}, saa {h}. Mpe tu unayemlipa pamoja na nenosiri:\n{voucher}";
    /// SMS: a one-time code to link this number to a smartphone wallet.
    SmsLinkCode =>
        "Ferry: Code {code} links this number to a smartphone wallet, valid {min} min. If you did not ask, ignore it.",
        "Ferry: Codigo {code} liga este numero a uma carteira no celular, valido {min} min. Se nao pediu, ignore.",
        "Ferry: Namba {code} inaunganisha simu hii na pochi ya simu janja, dakika {min}. Kama hukuomba, puuza.";
}

/// Replaces each `{name}` of `template` with its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The text of `key` in `lang` with `values` filled in.
pub fn text(lang: Language, key: Key, values: &[(&str, &str)]) -> String {
    fill(key.template(lang), values)
}

/// `50.00 BRL`.
pub fn money(m: Money) -> String {
    format!("{} {}", m.to_decimal_string(), m.currency().code())
}

/// Civil date (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `DD/MM` (UTC) of `t`.
pub fn day_month(t: UnixTime) -> String {
    let days = i64::try_from(t.secs() / 86_400).unwrap_or(i64::MAX / 2);
    let (_, m, d) = civil(days);
    format!("{d:02}/{m:02}")
}

/// `HH:MM` (UTC) of `t`.
pub fn hour_minute(t: UnixTime) -> String {
    let s = t.secs() % 86_400;
    format!("{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

/// The SMS text of a notice in `lang`.
pub fn sms_text(lang: Language, kind: &NoticeKind) -> String {
    match kind {
        NoticeKind::Received {
            amount,
            from,
            balance,
        } => text(
            lang,
            Key::SmsReceived,
            &[
                ("amount", &money(*amount)),
                ("from", from.as_str()),
                ("balance", &money(*balance)),
            ],
        ),
        NoticeKind::Sent {
            amount,
            to,
            fee,
            balance,
        } => text(
            lang,
            Key::SmsSent,
            &[
                ("amount", &money(*amount)),
                ("to", to.as_str()),
                ("fee", &money(*fee)),
                ("balance", &money(*balance)),
            ],
        ),
        NoticeKind::CashOutCode {
            code,
            amount,
            valid_minutes,
        } => text(
            lang,
            Key::SmsCashCode,
            &[
                ("code", &crate::gsm7::transliterate(code)),
                ("amount", &money(*amount)),
                ("min", &valid_minutes.to_string()),
            ],
        ),
        NoticeKind::CashedOut { amount, balance } => text(
            lang,
            Key::SmsCashedOut,
            &[("amount", &money(*amount)), ("balance", &money(*balance))],
        ),
        NoticeKind::Locked { minutes } => {
            text(lang, Key::SmsLocked, &[("min", &minutes.to_string())])
        }
        NoticeKind::PinChanged => text(lang, Key::SmsPinChanged, &[]),
        NoticeKind::Registered => text(lang, Key::SmsRegistered, &[]),
        NoticeKind::PaymentSettled { amount, balance } => text(
            lang,
            Key::SmsPaymentSettled,
            &[("amount", &money(*amount)), ("balance", &money(*balance))],
        ),
        NoticeKind::PaymentSentSettled { amount } => text(
            lang,
            Key::SmsPaymentSentSettled,
            &[("amount", &money(*amount))],
        ),
        NoticeKind::CashedIn { amount, balance } => text(
            lang,
            Key::SmsCashedIn,
            &[("amount", &money(*amount)), ("balance", &money(*balance))],
        ),
        NoticeKind::VoucherIssued {
            reference,
            amount,
            hours,
            text: voucher,
        } => text(
            lang,
            Key::SmsVoucher,
            &[
                ("ref", &crate::gsm7::transliterate(reference)),
                ("amount", &money(*amount)),
                ("h", &hours.to_string()),
                ("voucher", &crate::gsm7::transliterate(voucher)),
            ],
        ),
        NoticeKind::LinkCode { code, minutes } => text(
            lang,
            Key::SmsLinkCode,
            &[
                ("code", &crate::gsm7::transliterate(code)),
                ("min", &minutes.to_string()),
            ],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gsm7;
    use crate::phone::Phone;
    use crate::sms::segments;
    use ferry_proto::Currency;

    fn placeholders(t: &str) -> Vec<String> {
        let mut v: Vec<String> = t
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(n, _)| n.to_owned()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn every_template_is_gsm7_default_and_has_the_same_placeholders() {
        for key in Key::ALL {
            let en = placeholders(key.template(Language::En));
            for lang in Language::ALL {
                let t = key.template(lang);
                // The text around the placeholders (`{` and `}` themselves are extension
                // characters, and never reach a screen: `fill` replaces them).
                let mut bare = t.to_owned();
                for p in placeholders(t) {
                    bare = bare.replace(&format!("{{{p}}}"), "");
                }
                assert!(gsm7::is_gsm7_default(&bare), "{key:?} {lang:?}: {t}");
                assert!(!t.is_empty());
                assert_eq!(placeholders(t), en, "{key:?} {lang:?}");
            }
        }
    }

    #[test]
    fn dates() {
        assert_eq!(day_month(UnixTime(0)), "01/01");
        // 2024-02-29 12:34:56 UTC
        assert_eq!(day_month(UnixTime(1_709_210_096)), "29/02");
        assert_eq!(hour_minute(UnixTime(1_709_210_096)), "12:34");
        assert_eq!(day_month(UnixTime(u64::MAX)).len(), 5);
    }

    #[test]
    fn longest_sms_confirmations_fit_one_gsm7_part() {
        let big = Money::new(i64::MAX, Currency::BRL);
        let phone = Phone::parse("+123456789012345", None).unwrap();
        let kinds = [
            NoticeKind::Received {
                amount: big,
                from: phone.clone(),
                balance: big,
            },
            NoticeKind::Sent {
                amount: big,
                to: phone.clone(),
                fee: big,
                balance: big,
            },
            NoticeKind::CashOutCode {
                code: "12345678".into(),
                amount: big,
                valid_minutes: u64::MAX,
            },
            NoticeKind::CashedOut {
                amount: big,
                balance: big,
            },
            NoticeKind::Locked { minutes: u64::MAX },
            NoticeKind::PinChanged,
            NoticeKind::Registered,
            NoticeKind::LinkCode {
                code: "12345678".into(),
                minutes: u64::MAX,
            },
            NoticeKind::CashedIn {
                amount: big,
                balance: big,
            },
            NoticeKind::PaymentSettled {
                amount: big,
                balance: big,
            },
            NoticeKind::PaymentSentSettled { amount: big },
        ];
        // The voucher's text form makes its SMS a concatenated one: GSM-7, at most three
        // parts for any amount, and the code is its own last line, intact.
        let code = format!("FV1:{}", "A2".repeat(106));
        for lang in Language::ALL {
            for amount in [Money::new(100_00, Currency::BRL), big] {
                let t = sms_text(
                    lang,
                    &NoticeKind::VoucherIssued {
                        reference: "1A2B3C4D".into(),
                        amount,
                        hours: 12,
                        text: code.clone(),
                    },
                );
                let s = segments(&t);
                assert_eq!(s.encoding, crate::sms::Encoding::Gsm7, "{t}");
                assert!(s.part_count() <= 3, "{} parts: {t}", s.part_count());
                assert_eq!(t.lines().last(), Some(code.as_str()));
            }
        }
        for lang in Language::ALL {
            for k in &kinds {
                let t = sms_text(lang, k);
                let s = segments(&t);
                assert_eq!(s.encoding, crate::sms::Encoding::Gsm7, "{t}");
                assert!(s.is_single(), "{} septets: {t}", s.units);
            }
        }
    }
}
