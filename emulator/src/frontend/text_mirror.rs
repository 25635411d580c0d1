//! The headless text mirror: a VGA text screen turned into a stream of
//! plain lines on the terminal, as it changes.
//!
//! Each sample of the screen is compared with what has already been shown.
//! A screen that scrolled (its rows moved up by k) prints only the rows
//! that came in at the bottom, so teletype output reads like a serial log;
//! any other changed row is printed again. Blank rows are not printed.
//!
//! A row is printed once it has looked the same in two samples in a row,
//! so a sample that catches a line half-written does not print the half;
//! the row holding the cursor is being typed into and waits for
//! [`STABLE_SAMPLES`] (or for the cursor to leave): a prompt shows up, the
//! keystrokes of a line being typed do not each print it again.

/// Samples a row must look the same before it is printed.
pub const SETTLED_SAMPLES: u32 = 2;
/// Samples the cursor's row must look the same before it is printed.
pub const STABLE_SAMPLES: u32 = 15;

/// What has been shown, and how long each row has looked the same.
#[derive(Debug, Default)]
pub struct TextMirror {
    /// The screen as the terminal has it (trailing spaces trimmed).
    shown: Vec<String>,
    /// The previous sample.
    last: Vec<String>,
    /// Per row: samples in a row with the same text (at least 1).
    same_for: Vec<u32>,
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
    /// to print. With `flush` nothing is held back (the run is ending).
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
        self.same_for = new
            .iter()
            .enumerate()
            .map(|(i, row)| match (self.last.get(i), self.same_for.get(i)) {
                (Some(prev), Some(&n)) if prev == row => n.saturating_add(1),
                _ => 1,
            })
            .collect();
        self.last = new.clone();
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
            let needed = if cursor == Some(i) {
                STABLE_SAMPLES
            } else {
                SETTLED_SAMPLES
            };
            if !flush && self.same_for[i] < needed {
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

    /// Sample the same screen until it has settled.
    fn settled(m: &mut TextMirror, rows: &[&str], cursor: Option<usize>) -> Vec<String> {
        (0..SETTLED_SAMPLES)
            .flat_map(|_| m.sample(screen(rows), cursor, false))
            .collect()
    }

    #[test]
    fn new_rows_print_once_and_unchanged_rows_not_again() {
        let mut m = TextMirror::new();
        assert_eq!(
            settled(&mut m, &["hello", "", "world"], None),
            ["hello", "world"]
        );
        assert!(settled(&mut m, &["hello", "", "world"], None).is_empty());
        assert_eq!(
            settled(&mut m, &["hello", "there", "world"], None),
            ["there"]
        );
        assert_eq!(
            settled(&mut m, &["HELLO", "there", "world"], None),
            ["HELLO"]
        );
    }

    #[test]
    fn a_half_written_line_caught_by_one_sample_is_not_printed() {
        let mut m = TextMirror::new();
        assert!(m.sample(screen(&["Se"]), None, false).is_empty());
        assert_eq!(settled(&mut m, &["SeaBIOS"], None), ["SeaBIOS"]);
    }

    #[test]
    fn a_scrolling_screen_prints_only_the_rows_that_came_in() {
        let mut m = TextMirror::new();
        let out = settled(&mut m, &["a1", "a2", "a3", "a4", "a5"], None);
        assert_eq!(out, ["a1", "a2", "a3", "a4", "a5"]);
        let out = settled(&mut m, &["a3", "a4", "a5", "a6", "a7"], None);
        assert_eq!(out, ["a6", "a7"]);
    }

    #[test]
    fn the_cursor_row_waits_until_the_cursor_leaves_or_it_settles() {
        let mut m = TextMirror::new();
        assert!(settled(&mut m, &["he"], Some(0)).is_empty());
        assert!(settled(&mut m, &["hell"], Some(0)).is_empty());
        // Enter: the cursor moves on, the finished line prints.
        assert_eq!(settled(&mut m, &["hello", "p"], Some(1)), ["hello"]);
        // A prompt that stays prints after STABLE_SAMPLES samples.
        let mut printed = Vec::new();
        for _ in 0..STABLE_SAMPLES + 1 {
            printed.extend(m.sample(screen(&["hello", "prompt>"]), Some(1), false));
        }
        assert_eq!(printed, ["prompt>"]);
        // At the end of the run nothing is held back.
        let out = m.sample(screen(&["hello", "prompt> x"]), Some(1), true);
        assert_eq!(out, ["prompt> x"]);
    }

    #[test]
    fn graphics_modes_print_nothing() {
        let mut m = TextMirror::new();
        assert!(m.sample(None, None, true).is_empty());
    }
}
