//! Which lines hide which: two lines whose drawn paths lie within a pixel of each other
//! look like one, so the legend would list a line nobody can see (compare's at-least-once
//! exactly under exactly-once). Judged on the lines' pixel paths, so "near-identical" means
//! what the reader's eye gets, whatever the data's units.

/// How far apart, in pixels, two paths may lie and still read as one line.
const PIXEL: f64 = 1.0;

/// Share of a line's points on another line from which it is drawn distinguishably (and
/// said to overlap it) though not equal to it everywhere.
const MOSTLY: f64 = 0.5;

/// What a line sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overlap {
    /// The earlier line it lies on.
    pub on: usize,
    /// Within a pixel of it everywhere, both ways: the two coincide.
    pub whole: bool,
}

/// For each path (in drawing order, in pixels), the earlier path it coincides with or
/// mostly lies on, if any.
pub fn overlaps(paths: &[Vec<(f64, f64)>]) -> Vec<Option<Overlap>> {
    (0..paths.len())
        .map(|j| {
            let mut best: Option<(f64, usize)> = None;
            for i in 0..j {
                let share = share_near(&paths[j], &paths[i]);
                if share >= 1.0 && share_near(&paths[i], &paths[j]) >= 1.0 {
                    return Some(Overlap { on: i, whole: true });
                }
                if share >= MOSTLY && best.is_none_or(|(s, _)| share > s) {
                    best = Some((share, i));
                }
            }
            best.map(|(_, on)| Overlap { on, whole: false })
        })
        .collect()
}

/// The share of `a`'s points within a pixel of the path `b` (0 when either is empty).
#[allow(clippy::cast_precision_loss)]
fn share_near(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let near = a.iter().filter(|p| distance(**p, b) <= PIXEL).count();
    near as f64 / a.len() as f64
}

/// Distance from `p` to the path through `b`.
fn distance(p: (f64, f64), b: &[(f64, f64)]) -> f64 {
    if b.len() == 1 {
        return (p.0 - b[0].0).hypot(p.1 - b[0].1);
    }
    b.windows(2)
        .map(|s| to_segment(p, s[0], s[1]))
        .fold(f64::INFINITY, f64::min)
}

fn to_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    };
    (p.0 - (a.0 + t * dx)).hypot(p.1 - (a.1 + t * dy))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(ys: &[f64]) -> Vec<(f64, f64)> {
        ys.iter()
            .enumerate()
            .map(|(i, y)| (i as f64 * 10.0, *y))
            .collect()
    }

    #[test]
    fn identical_and_subpixel_paths_coincide() {
        let a = path(&[0.0, 50.0, 20.0, 80.0]);
        let b = path(&[0.4, 50.6, 19.5, 80.0]);
        let c = path(&[30.0, 90.0, 10.0, 0.0]);
        assert_eq!(
            overlaps(&[a, c, b]),
            vec![None, None, Some(Overlap { on: 0, whole: true })]
        );
    }

    #[test]
    fn a_line_apart_for_a_stretch_mostly_overlaps_and_a_shorter_one_does_not_coincide() {
        let a = path(&[0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        let mostly = path(&[0.0, 10.0, 20.0, 30.0, 90.0, 50.0]);
        // The first half of `a` only: on it, but `a` goes on where it does not.
        let short = path(&[0.0, 10.0, 20.0]);
        assert_eq!(
            overlaps(&[a, mostly, short]),
            vec![
                None,
                Some(Overlap {
                    on: 0,
                    whole: false
                }),
                Some(Overlap {
                    on: 0,
                    whole: false
                })
            ]
        );
    }

    #[test]
    fn a_steep_stretch_sampled_at_other_points_still_coincides() {
        // The same step drawn through different x samples: compare the paths, not the
        // values at equal x.
        let a = vec![(0.0, 0.0), (10.0, 0.0), (10.0, 100.0), (20.0, 100.0)];
        let b = vec![
            (0.0, 0.0),
            (5.0, 0.0),
            (10.0, 0.0),
            (10.0, 60.0),
            (20.0, 100.0),
        ];
        let got = overlaps(&[a, b]);
        assert_eq!(got[1].map(|o| o.on), Some(0));
    }
}
