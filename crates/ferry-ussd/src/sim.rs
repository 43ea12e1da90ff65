//! Pure helpers for a terminal USSD simulator (`ferry ussd`): a script of inputs becomes the
//! successive `text` values an aggregator would send, and a reply is drawn as a feature phone
//! shows it.

use crate::menu::Reply;

/// Columns of a typical feature-phone screen.
pub const PHONE_COLUMNS: usize = 30;

/// The `text` of each callback of a session whose inputs are `script` (`*`-joined, as a user
/// would dial them: `1*+5511912345678*50*2580*1`): first `""` (the dial), then `"1"`,
/// `"1*+5511912345678"`, ... An empty script is just the dial.
pub fn script_texts(script: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    if script.is_empty() {
        return out;
    }
    let mut text = String::new();
    for (i, input) in script.split('*').enumerate() {
        if i > 0 {
            text.push('*');
        }
        text.push_str(input);
        out.push(text.clone());
    }
    out
}

/// Wraps `line` at `width` columns on spaces (a word longer than the width is cut).
fn wrap(line: &str, width: usize, out: &mut Vec<String>) {
    let width = width.max(1);
    let mut current = String::new();
    for word in line.split(' ') {
        let mut word = word.to_owned();
        loop {
            let cur_len = current.chars().count();
            let word_len = word.chars().count();
            let sep = usize::from(cur_len > 0);
            if cur_len + sep + word_len <= width {
                if sep == 1 {
                    current.push(' ');
                }
                current.push_str(&word);
                break;
            }
            if cur_len > 0 {
                out.push(std::mem::take(&mut current));
                continue;
            }
            // A word longer than the line: cut it.
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            out.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !current.is_empty() || line.is_empty() {
        out.push(current);
    }
}

/// Draws `reply` as a phone shows it: a frame `width` columns wide inside, the text wrapped,
/// and below it `[Reply]` (waiting for input) or `[Session ended]`.
pub fn render_screen(reply: &Reply, width: usize) -> String {
    let mut lines = Vec::new();
    for l in reply.text().split('\n') {
        wrap(l, width, &mut lines);
    }
    let bar = format!("+{}+", "-".repeat(width + 2));
    let mut out = String::new();
    out.push_str(&bar);
    out.push('\n');
    for l in &lines {
        let pad = width.saturating_sub(l.chars().count());
        out.push_str(&format!("| {l}{} |\n", " ".repeat(pad)));
    }
    out.push_str(&bar);
    out.push('\n');
    out.push_str(if reply.is_end() {
        "[Session ended]"
    } else {
        "[Reply]"
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn script_to_texts() {
        assert_eq!(script_texts(""), [""]);
        assert_eq!(
            script_texts("1*+5511912345678*50"),
            ["", "1", "1*+5511912345678", "1*+5511912345678*50"]
        );
        assert_eq!(script_texts("1**2"), ["", "1", "1*", "1**2"]);
    }

    #[test]
    fn draws_a_phone_screen() {
        let s = render_screen(
            &Reply::Continue("Ferry\n1 Send money\n2 Balance".into()),
            PHONE_COLUMNS,
        );
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[1], format!("| Ferry{} |", " ".repeat(25)));
        assert_eq!(lines.last(), Some(&"[Reply]"));
        let s = render_screen(
            &Reply::End("Sent 50.00 BRL to +5511912345678. Fee 0.50 BRL.".into()),
            20,
        );
        assert!(s.ends_with("[Session ended]"));
        for l in s.lines().filter(|l| l.starts_with('|')) {
            assert_eq!(l.chars().count(), 24, "{l:?}");
        }
    }

    proptest! {
        #[test]
        fn every_line_fits_and_no_word_is_lost(text in "[a-z0-9 \\n]{0,200}", width in 5usize..40) {
            let s = render_screen(&Reply::Continue(text.clone()), width);
            for l in s.lines().filter(|l| l.starts_with('|')) {
                prop_assert_eq!(l.chars().count(), width + 4);
            }
            let inner: String = s.lines().filter(|l| l.starts_with('|'))
                .map(|l| l[2..l.len() - 2].to_owned()).collect::<Vec<_>>().join(" ");
            let words = |t: &str| t.split_whitespace().collect::<String>();
            prop_assert_eq!(words(&inner), words(&text));
        }

        #[test]
        fn scripts_grow_one_input_at_a_time(script in "[0-9+*]{0,40}") {
            let texts = script_texts(&script);
            prop_assert_eq!(texts.last().cloned(), Some(script.clone()));
            for w in texts.windows(2).skip(1) {
                let prefix = format!("{}*", w[0]);
                prop_assert!(w[1].starts_with(&prefix));
            }
        }
    }
}
