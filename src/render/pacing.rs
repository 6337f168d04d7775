//! Frame pacing: which frame requests to draw and which to skip so the video keeps its rate and
//! its sync when rendering falls behind.
//!
//! In real time every frame request carries the instant it is due on screen. A frame that is not
//! yet due is always drawn. One that is already late is drawn only if, by a running average of
//! recent render times, it would be finished within the tolerance (one frame period) of its due
//! time; otherwise [`FramePacer`] skips it.
//! Skipped frames are counted; the next frame that can be on time is drawn, so a slow renderer
//! lowers the frame rate evenly instead of drifting behind the audio. Offline requests (no due
//! time) are always drawn.
//!
//! Sans-IO: the caller passes the current instant and reports how long each render took.

use std::time::Duration;

use tokio::time::Instant;

/// Weight of the newest render time in the running average (1/8: smooth, but follows a change
/// within a few frames).
const AVERAGE_SHIFT: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Render,
    Skip,
}

/// Decides, per frame request, whether to draw it.
#[derive(Clone, Debug)]
pub struct FramePacer {
    tolerance: Duration,
    /// Running average of render times; `None` until the first render.
    render_time: Option<Duration>,
    skipped: u64,
    rendered: u64,
}

impl FramePacer {
    /// A pacer for `fps` frames per second; a frame may be at most one period late.
    pub fn new(fps: u32) -> FramePacer {
        FramePacer {
            tolerance: Duration::from_nanos(1_000_000_000 / fps.max(1) as u64),
            render_time: None,
            skipped: 0,
            rendered: 0,
        }
    }

    /// Draw or skip the frame due at `due` (`None`: offline, always drawn), at `now`.
    pub fn decide(&mut self, now: Instant, due: Option<Instant>) -> Decision {
        let Some(due) = due else {
            return Decision::Render;
        };
        let finished = now + self.render_time.unwrap_or(Duration::ZERO);
        if now > due && finished > due + self.tolerance {
            self.skipped += 1;
            Decision::Skip
        } else {
            Decision::Render
        }
    }

    /// Reports how long the last drawn frame took.
    pub fn rendered(&mut self, took: Duration) {
        self.rendered += 1;
        self.render_time = Some(match self.render_time {
            None => took,
            Some(average) => average - average / (1 << AVERAGE_SHIFT) + took / (1 << AVERAGE_SHIFT),
        });
    }

    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    pub fn rendered_count(&self) -> u64 {
        self.rendered
    }

    /// The running average of render times.
    pub fn render_time(&self) -> Option<Duration> {
        self.render_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FPS: u32 = 25;
    const PERIOD: Duration = Duration::from_millis(40);

    /// A renderer that takes `cost` per frame, fed frames due every period from `origin` as a
    /// real-time playout would: each request is looked at when the renderer is free (or when it
    /// is produced, if later). Returns (due, finished) of drawn frames and the number skipped.
    fn simulate(cost: impl Fn(u64) -> Duration, frames: u64) -> (Vec<(Instant, Instant)>, u64) {
        let origin = Instant::now();
        let mut pacer = FramePacer::new(FPS);
        let mut free_at = origin;
        let mut drawn = Vec::new();
        for k in 0..frames {
            let due = origin + PERIOD * k as u32;
            // The playout emits a frame a little before it is due.
            let produced = due - Duration::from_millis(5);
            let now = free_at.max(produced);
            if pacer.decide(now, Some(due)) == Decision::Render {
                let took = cost(k);
                free_at = now + took;
                pacer.rendered(took);
                drawn.push((due, free_at));
            } else {
                free_at = now;
            }
        }
        (drawn, pacer.skipped())
    }

    #[test]
    fn a_fast_renderer_draws_every_frame_on_time() {
        let (drawn, skipped) = simulate(|_| Duration::from_millis(12), 500);
        assert_eq!(skipped, 0);
        assert_eq!(drawn.len(), 500);
        assert!(drawn.iter().all(|(due, done)| *done <= *due + PERIOD));
    }

    #[test]
    fn a_slow_renderer_skips_frames_evenly_and_never_drifts() {
        // 1.5 frame periods per frame: every other frame fits within the tolerance.
        let (drawn, skipped) = simulate(|_| Duration::from_millis(60), 1000);
        assert_eq!(drawn.len() as u64 + skipped, 1000);
        let share = drawn.len() as f64 / 1000.0;
        assert!((0.45..=0.55).contains(&share), "drew {share} of the frames");
        // Lateness stays bounded over the whole run: no drift.
        let worst = drawn
            .iter()
            .map(|(due, done)| done.saturating_duration_since(*due))
            .max()
            .unwrap();
        assert!(
            worst <= PERIOD + Duration::from_millis(60),
            "worst lateness {worst:?}"
        );
        let last = drawn.last().unwrap();
        assert!(last.1.saturating_duration_since(last.0) <= PERIOD + Duration::from_millis(60));
        // Evenly: never more than one skip in a row at this speed.
        let dues: Vec<Instant> = drawn.iter().map(|d| d.0).collect();
        assert!(
            dues.windows(2).all(|w| w[1] - w[0] <= PERIOD * 2),
            "gaps of more than one frame"
        );
    }

    #[test]
    fn a_stall_is_recovered_by_skipping_the_frames_it_made_late() {
        // One 500 ms hiccup (a page fault storm, a GC pause elsewhere), otherwise fast.
        let (drawn, skipped) = simulate(|k| Duration::from_millis(if k == 100 { 500 } else { 10 }), 400);
        assert!((10..=14).contains(&skipped), "skipped {skipped}");
        let after: Vec<_> = drawn
            .iter()
            .filter(|(due, _)| *due > drawn[0].0 + PERIOD * 120)
            .collect();
        assert!(
            after.iter().all(|(due, done)| *done <= *due + PERIOD),
            "caught up after the stall"
        );
    }

    #[test]
    fn offline_frames_are_always_drawn() {
        let mut pacer = FramePacer::new(FPS);
        pacer.rendered(Duration::from_secs(10));
        assert_eq!(pacer.decide(Instant::now(), None), Decision::Render);
        assert_eq!(pacer.skipped(), 0);
    }
}
