//! Registration on SQLite and PostgreSQL: certificates from policy, keys registered once.

mod common;

use common::stores;
use ferry_ledger::registry::{
    RegistrationPolicy, RegistryError, register_account, register_wallet,
};
use ferry_proto::cert::{AttestationBody, Limits, Tier};
use ferry_proto::verify::{
    AttestationRoots, CertError, IssuerKeys, verify_client_cert, verify_ta_cert,
};
use ferry_proto::{AccountId, AttestationStatement, Currency, SigningKey, TaId, UnixTime};
use ferry_testkit::T0;

struct Roots {
    oem: SigningKey,
    software: SigningKey,
}

fn policy(roots: &Roots) -> RegistrationPolicy {
    let limits = |bal, pay| Limits {
        currency: Currency::BRL,
        max_balance: bal,
        max_payment: pay,
        max_payments_between_syncs: 20,
        sync_by: UnixTime(3 * 86_400),
    };
    RegistrationPolicy {
        client_cert_validity_secs: 365 * 86_400,
        ta_cert_validity_secs: 30 * 86_400,
        software_limits: limits(500_00, 100_00),
        hardware_limits: limits(5_000_00, 1_000_00),
        attestation_roots: AttestationRoots {
            hardware: vec![roots.oem.public()],
            software: vec![roots.software.public()],
        },
    }
}

fn attest(root: &SigningKey, tier: Tier, ta_key: &SigningKey) -> AttestationStatement {
    AttestationStatement::sign(
        AttestationBody {
            ta_key: ta_key.public(),
            tier,
            device_model: "test".into(),
            issued_at: T0,
        },
        root,
    )
    .unwrap()
}

#[tokio::test]
async fn accounts_and_wallets_register_once_with_policy_limits() {
    let roots = Roots {
        oem: SigningKey::generate(),
        software: SigningKey::generate(),
    };
    let policy = policy(&roots);
    let issuer = SigningKey::generate();
    let trust = IssuerKeys::new([issuer.public()]);
    for (name, store, _dir) in stores().await {
        let account_key = SigningKey::generate();
        let cert = register_account(&store, &issuer, &policy, account_key.public(), T0)
            .await
            .unwrap();
        let body = verify_client_cert(&cert, &trust, T0).unwrap();
        assert_eq!(body.account_key, account_key.public(), "{name}");
        let account = body.account_id;
        assert_eq!(
            store.client_certificate(account).await.unwrap(),
            Some(cert.clone()),
            "{name}"
        );
        assert!(
            matches!(
                register_account(&store, &issuer, &policy, account_key.public(), T0).await,
                Err(RegistryError::AlreadyRegistered("account"))
            ),
            "{name}"
        );

        let ta_key = SigningKey::generate();
        let ta = register_wallet(
            &store,
            &issuer,
            &policy,
            account,
            &attest(&roots.software, Tier::Software, &ta_key),
            T0,
        )
        .await
        .unwrap();
        let ta_body = verify_ta_cert(&ta, &trust, None, T0).unwrap();
        assert_eq!(ta_body.account_id, account, "{name}");
        assert_eq!(ta_body.tier, Tier::Software, "{name}");
        assert_eq!(ta_body.limits.max_payment, 100_00, "{name}");
        assert_eq!(ta_body.limits.sync_by, T0.plus_secs(3 * 86_400), "{name}");
        let ta_id = TaId::of(&ta_key.public());
        assert_eq!(
            store.wallet_certificate(ta_id).await.unwrap(),
            Some(ta.clone()),
            "{name}"
        );

        // The same secure wallet again, even for another tier or through the OEM root.
        assert!(
            matches!(
                register_wallet(
                    &store,
                    &issuer,
                    &policy,
                    account,
                    &attest(&roots.oem, Tier::Hardware, &ta_key),
                    T0
                )
                .await,
                Err(RegistryError::AlreadyRegistered("secure wallet"))
            ),
            "{name}"
        );
        // A hardware claim signed by the software root is refused.
        let other = SigningKey::generate();
        assert!(
            matches!(
                register_wallet(
                    &store,
                    &issuer,
                    &policy,
                    account,
                    &attest(&roots.software, Tier::Hardware, &other),
                    T0
                )
                .await,
                Err(RegistryError::Attestation(CertError::UntrustedAttestation))
            ),
            "{name}"
        );
        // A wallet for an account that does not exist.
        assert!(
            matches!(
                register_wallet(
                    &store,
                    &issuer,
                    &policy,
                    AccountId::random(),
                    &attest(&roots.oem, Tier::Hardware, &other),
                    T0
                )
                .await,
                Err(RegistryError::UnknownAccount)
            ),
            "{name}"
        );
        // Neither refusal left anything behind.
        assert_eq!(
            store
                .wallet_certificate(TaId::of(&other.public()))
                .await
                .unwrap(),
            None,
            "{name}"
        );
        // A hardware wallet gets hardware limits.
        let hw = register_wallet(
            &store,
            &issuer,
            &policy,
            account,
            &attest(&roots.oem, Tier::Hardware, &other),
            T0,
        )
        .await
        .unwrap();
        assert_eq!(hw.unverified().limits.max_payment, 1_000_00, "{name}");
    }
}
