//! The headless text mirror: a VGA text screen turned into a stream of
//! plain lines on the terminal, as it changes.
//!
//! Each sample of the screen is compared with what has already been shown.
//! A screen that scrolled (its rows moved up by k) prints only the rows
//! that came in at the bottom, so teletype output reads like a serial log;
//! any other changed row is printed again. Blank rows are not printed.
//! The row holding the cursor is being typed into, so it waits until the
//! cursor leaves it or it has stayed the same for [`STABLE_SAMPLES`]
//! samples: a prompt shows up, a half-written line does not.

/// Samples a cursor row must stay unchanged before it is printed.
pub const STABLE_SAMPLES: u32 = 15;

/// What has been shown, and the cursor row being held back.
#[derive(Debug, Default)]
pub struct TextMirror {
    /// The screen as the terminal has it (trailing spaces trimmed).
    shown: Vec<String>,
    /// The cursor row's text at the previous sample and how many samples
    /// in a row it has had that text.
    held: Option<(usize, String, u32)>,
}

fn trimmed(rows: Vec<String>) -> Vec<String> {
    rows.into_iter().map(|r| r.trim_end().to_string()).collect()
}

/// The upward scroll `k` that explains most of `new` from `old`: the
/// number of non-blank rows with `new[i] == old[i + k]` is largest (ties go
/// to the smaller `k`, so an unchanged screen is not a scroll).
fn best_scroll(old: &[String], new: &[String]) -> usize {
    let matches = |k: usize| {
        new.iter()
            .zip(old.iter().skip(k))
            .filter(|(n, o)| !n.is_empty() && n == o)
            .count()
    };
    (0..old.len().max(1))
        .map(|k| (matches(k), k))
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map_or(0, |(_, k)| k)
}

impl TextMirror {
    pub fn new() -> TextMirror {
        TextMirror::default()
    }

    /// Take a sample: `screen` is the text screen (`None` in graphics
    /// modes), `cursor` the cursor's row if it is shown. Returns the lines
    /// to print. With `flush` the cursor row is not held back (the run is
    /// ending).
    pub fn sample(
        &mut self,
        screen: Option<Vec<String>>,
        cursor: Option<usize>,
        flush: bool,
    ) -> Vec<String> {
        let Some(screen) = screen else {
            return Vec::new();
        };
        let new = trimmed(screen);
        // The cursor row is held while it is still changing.
        let hold = cursor.filter(|_| !flush).and_then(|row| {
            let text = new.get(row)?;
            let count = match &self.held {
                Some((r, t, n)) if *r == row && t == text => n + 1,
                _ => 1,
            };
            self.held = Some((row, text.clone(), count));
            (count < STABLE_SAMPLES).then_some(row)
        });
        if hold.is_none() && cursor.is_none() {
            self.held = None;
        }
        if new == self.shown {
            return Vec::new();
        }
        let k = best_scroll(&self.shown, &new);
        let mut out = Vec::new();
        let mut shown = new.clone();
        for (i, row) in new.iter().enumerate() {
            let before = self.shown.get(i + k);
            if before == Some(row) {
                continue;
            }
            if hold == Some(i) {
                // Not shown yet: keep it "changed" for the next sample.
                shown[i] = before.cloned().unwrap_or_default();
                continue;
            }
            if !row.is_empty() {
                out.push(row.clone());
            }
        }
        self.shown = shown;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(rows: &[&str]) -> Option<Vec<String>> {
        let mut v: Vec<String> = rows.iter().map(|r| format!("{r:<20}")).collect();
        v.resize(5, " ".repeat(20));
        Some(v)
    }

    #[test]
    fn new_rows_print_once_and_unchanged_rows_not_again() {
        let mut m = TextMirror::new();
        assert_eq!(
            m.sample(screen(&["hello", "", "world"]), None, false),
            ["hello", "world"]
        );
        assert!(m
            .sample(screen(&["hello", "", "world"]), None, false)
            .is_empty());
        assert_eq!(
            m.sample(screen(&["hello", "there", "world"]), None, false),
            ["there"]
        );
        assert_eq!(
            m.sample(screen(&["HELLO", "there", "world"]), None, false),
            ["HELLO"]
        );
    }

    #[test]
    fn a_scrolling_screen_prints_only_the_rows_that_came_in() {
        let mut m = TextMirror::new();
        let out = m.sample(screen(&["a1", "a2", "a3", "a4", "a5"]), None, false);
        assert_eq!(out, ["a1", "a2", "a3", "a4", "a5"]);
        let out = m.sample(screen(&["a3", "a4", "a5", "a6", "a7"]), None, false);
        assert_eq!(out, ["a6", "a7"]);
    }

    #[test]
    fn the_cursor_row_waits_until_the_cursor_leaves_or_it_settles() {
        let mut m = TextMirror::new();
        assert!(m.sample(screen(&["he"]), Some(0), false).is_empty());
        assert!(m.sample(screen(&["hell"]), Some(0), false).is_empty());
        // Enter: the cursor moves on, the finished line prints.
        assert_eq!(m.sample(screen(&["hello", "p"]), Some(1), false), ["hello"]);
        // A prompt that stays prints after STABLE_SAMPLES samples.
        let mut printed = Vec::new();
        for _ in 0..STABLE_SAMPLES + 1 {
            printed.extend(m.sample(screen(&["hello", "prompt>"]), Some(1), false));
        }
        assert_eq!(printed, ["prompt>"]);
        // At the end of the run nothing is held back.
        assert_eq!(
            m.sample(screen(&["hello", "prompt> x"]), Some(1), true),
            ["prompt> x"]
        );
    }

    #[test]
    fn graphics_modes_print_nothing() {
        let mut m = TextMirror::new();
        assert!(m.sample(None, None, true).is_empty());
    }
}
