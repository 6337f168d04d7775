//! Playout on a virtual clock: the caller says which output sample has come.

use super::*;
use crate::motion::Channel;

const RATE: u32 = 48_000;
const CHUNK: u64 = 960;
const FRAME: u64 = 1920; // 25 fps

fn settings(mode: PlayoutMode) -> PlayoutSettings {
    PlayoutSettings {
        sample_rate_hz: RATE,
        fps: 25,
        mode,
        start_wait_samples: 4_800,
        idle_seed: 1,
    }
}

/// An utterance whose audio sample n has value n (so positions are visible in the output) and
/// whose pose k has JawOpen k/100.
fn utterance(epoch: u64, samples: u64) -> Vec<SpeechItem> {
    let epoch = Epoch(epoch);
    let clock = FrameClock::new(RATE, 25);
    let mut items = Vec::new();
    let mut start = 0;
    while start < samples {
        let len = (samples - start).min(CHUNK);
        let values: Vec<f32> = (start..start + len).map(|n| n as f32).collect();
        items.push(SpeechItem {
            epoch,
            payload: SpeechPayload::Audio(AudioFrame::new(RATE, start, &values).with_epoch(epoch)),
        });
        start += len;
    }
    for k in 0..clock.frames_covering(samples) {
        let mut vector = MotionVector::NEUTRAL;
        vector.set(Channel::JawOpen, k as f32 / 100.0);
        items.push(SpeechItem {
            epoch,
            payload: SpeechPayload::Motion(MotionFrame {
                epoch,
                frame_index: k,
                sample: clock.frame_start_sample(k),
                vector,
            }),
        });
    }
    items.push(SpeechItem {
        epoch,
        payload: SpeechPayload::End {
            total_samples: samples,
        },
    });
    items
}

fn drain(playout: &mut Playout) -> Vec<PlayoutOutput> {
    std::iter::from_fn(|| playout.poll_output()).collect()
}

fn audio(outputs: &[PlayoutOutput]) -> Vec<&AudioFrame> {
    outputs
        .iter()
        .filter_map(|o| match o {
            PlayoutOutput::Audio(f) => Some(f),
            _ => None,
        })
        .collect()
}

fn video(outputs: &[PlayoutOutput]) -> Vec<FrameRequest> {
    outputs
        .iter()
        .filter_map(|o| match o {
            PlayoutOutput::Video(r) => Some(*r),
            _ => None,
        })
        .collect()
}

#[test]
fn offline_output_is_exactly_the_utterance_with_a_pose_per_frame() {
    let mut playout = Playout::new(settings(PlayoutMode::Offline));
    for item in utterance(0, 10_000) {
        playout.push(item);
        playout.step(u64::MAX);
    }
    playout.close_input();
    playout.step(u64::MAX);
    let out = drain(&mut playout);
    let chunks = audio(&out);
    let samples: Vec<f32> = chunks.iter().flat_map(|c| c.samples().to_vec()).collect();
    assert_eq!(samples.len(), 10_000);
    assert!(
        samples.iter().enumerate().all(|(n, s)| *s == n as f32),
        "audio must be played in order, gapless"
    );
    let frames = video(&out);
    assert_eq!(frames.len(), 6, "10000 samples at 25 fps need 6 frames");
    for frame in &frames {
        assert_eq!(frame.sample, frame.frame_index * FRAME);
        assert_eq!(frame.pose.get(Channel::JawOpen), frame.frame_index as f32 / 100.0);
        assert_eq!(frame.epoch, Some(Epoch(0)));
    }
    assert!(playout.is_finished());
}

#[test]
fn offline_waits_for_the_poses_a_chunk_needs() {
    let mut playout = Playout::new(settings(PlayoutMode::Offline));
    let items = utterance(0, 9_600);
    let (audio_items, rest): (Vec<_>, Vec<_>) = items
        .into_iter()
        .partition(|i| matches!(i.payload, SpeechPayload::Audio(_)));
    for item in audio_items {
        playout.push(item);
    }
    playout.step(u64::MAX);
    assert!(
        drain(&mut playout)
            .iter()
            .all(|o| matches!(o, PlayoutOutput::Mark(_))),
        "no pose yet: nothing leaves"
    );
    for item in rest {
        playout.push(item);
    }
    playout.step(u64::MAX);
    assert_eq!(audio(&drain(&mut playout)).len(), 10);
}

#[test]
fn real_time_fills_silence_with_idle_frames_and_places_speech_by_one_offset() {
    let mut playout = Playout::new(settings(PlayoutMode::RealTime));
    playout.step(5 * CHUNK); // 100 ms of idle before anything is said
    let idle = drain(&mut playout);
    assert_eq!(audio(&idle).len(), 6);
    assert!(
        audio(&idle)
            .iter()
            .all(|c| c.epoch.is_none() && c.samples().iter().all(|s| *s == 0.0))
    );
    assert_eq!(video(&idle).len(), 3, "frames at 0, 1920 and 3840");

    for item in utterance(1, 20_000) {
        playout.push(item);
    }
    playout.step(60_000);
    let out = drain(&mut playout);
    let offset = 6 * CHUNK;
    assert!(
        out.iter()
            .any(|o| matches!(o, PlayoutOutput::Mark(OutputMark::UtteranceStarted(Epoch(1)))))
    );
    for chunk in audio(&out) {
        for (i, sample) in chunk.samples().iter().enumerate() {
            let at = chunk.start_sample + i as u64;
            let expected = if (offset..offset + 20_000).contains(&at) {
                (at - offset) as f32
            } else {
                0.0
            };
            assert_eq!(*sample, expected, "output sample {at}");
        }
    }
    // Every frame during speech shows the pose at (frame sample - offset), interpolated.
    for frame in video(&out).iter().filter(|f| f.epoch.is_some()) {
        let local = frame.sample - offset;
        let expected = local as f32 / FRAME as f32 / 100.0;
        assert!(
            (frame.pose.get(Channel::JawOpen) - expected).abs() < 1e-5,
            "frame {}",
            frame.frame_index
        );
    }
    assert!(
        out.iter()
            .any(|o| matches!(o, PlayoutOutput::Mark(OutputMark::UtteranceFinished(Epoch(1)))))
    );
}

#[test]
fn real_time_starts_without_poses_after_the_start_wait() {
    let mut playout = Playout::new(settings(PlayoutMode::RealTime));
    let audio_only: Vec<_> = utterance(1, 9_600)
        .into_iter()
        .filter(|i| matches!(i.payload, SpeechPayload::Audio(_)))
        .collect();
    for item in audio_only {
        playout.push(item);
    }
    playout.step(4 * CHUNK);
    assert!(!playout.is_speaking(), "waits for a pose first");
    playout.step(6 * CHUNK);
    assert!(playout.is_speaking(), "gives up waiting after 100 ms");
}

#[test]
fn an_interrupt_silences_the_next_chunk_and_reports_it() {
    let mut playout = Playout::new(settings(PlayoutMode::RealTime));
    for item in utterance(1, 48_000) {
        playout.push(item);
    }
    playout.step(10 * CHUNK);
    assert!(playout.is_speaking());
    drain(&mut playout);

    assert_eq!(playout.interrupt(Epoch(2)), Some(Epoch(1)));
    playout.step(11 * CHUNK);
    let out = drain(&mut playout);
    let chunks = audio(&out);
    assert_eq!(chunks.len(), 1);
    assert!(chunks[0].epoch.is_none() && chunks[0].samples().iter().all(|s| *s == 0.0));
    assert!(out.contains_mark(OutputMark::Silenced {
        interrupted: Epoch(1)
    }));
    // Items of the old epoch that arrive late are ignored.
    for item in utterance(1, 960) {
        playout.push(item);
    }
    playout.step(20 * CHUNK);
    assert!(audio(&drain(&mut playout)).iter().all(|c| c.epoch.is_none()));
    assert_eq!(playout.stats().interrupted, 1);
}

#[test]
fn an_underrun_delays_the_rest_of_the_utterance_and_keeps_sync() {
    let mut playout = Playout::new(settings(PlayoutMode::RealTime));
    let items = utterance(1, 19_200);
    let (early, late): (Vec<_>, Vec<_>) = items.into_iter().partition(|i| match &i.payload {
        SpeechPayload::Audio(f) => f.start_sample < 4_800,
        SpeechPayload::Motion(_) => true,
        SpeechPayload::End { .. } => false,
    });
    for item in early {
        playout.push(item);
    }
    playout.step(10 * CHUNK); // 5 chunks of speech, then 5 of underrun
    for item in late {
        playout.push(item);
    }
    playout.step(40 * CHUNK);
    let out = drain(&mut playout);
    let played: Vec<f32> = audio(&out)
        .iter()
        .filter(|c| c.epoch.is_some())
        .flat_map(|c| c.samples().to_vec())
        .collect();
    assert_eq!(played.len(), 19_200);
    assert!(
        played.iter().enumerate().all(|(n, s)| *s == n as f32),
        "nothing skipped, nothing repeated"
    );
    assert!(playout.stats().underrun_chunks >= 4);
    let resumed_offset = audio(&out)
        .iter()
        .find(|c| c.epoch.is_some() && c.samples()[0] == 4_800.0)
        .unwrap()
        .start_sample
        - 4_800;
    for frame in video(&out)
        .iter()
        .filter(|f| f.epoch.is_some() && f.sample >= resumed_offset + 4_800)
    {
        let expected = (frame.sample - resumed_offset) as f32 / FRAME as f32 / 100.0;
        assert!((frame.pose.get(Channel::JawOpen) - expected).abs() < 1e-5);
    }
}

#[test]
fn the_core_pushes_back_when_two_seconds_are_buffered() {
    let mut playout = Playout::new(settings(PlayoutMode::RealTime));
    for item in utterance(1, 48_000 * 3)
        .into_iter()
        .filter(|i| matches!(i.payload, SpeechPayload::Audio(_)))
    {
        if !playout.wants_input() {
            break;
        }
        playout.push(item);
    }
    assert!(!playout.wants_input());
}

trait ContainsMark {
    fn contains_mark(&self, mark: OutputMark) -> bool;
}

impl ContainsMark for Vec<PlayoutOutput> {
    fn contains_mark(&self, mark: OutputMark) -> bool {
        self.iter()
            .any(|o| matches!(o, PlayoutOutput::Mark(m) if *m == mark))
    }
}

#[test]
fn the_status_says_what_is_playing_and_how_far() {
    let mut playout = Playout::new(settings(PlayoutMode::RealTime));
    assert_eq!(playout.status().speaking, None);
    for item in utterance(4, 9_600) {
        playout.push(item);
    }
    playout.step(3 * CHUNK);
    let status = playout.status();
    assert_eq!(status.speaking, Some(Epoch(4)));
    assert_eq!(
        status.played_samples,
        4 * CHUNK,
        "started at the first chunk, four chunks out"
    );
    assert_eq!(status.output_sample, 4 * CHUNK);
    playout.step(20 * CHUNK);
    assert_eq!(playout.status().speaking, None, "finished");
}

#[test]
fn when_speech_stops_the_mouth_and_head_ease_out_instead_of_jumping() {
    let mut playout = Playout::new(settings(PlayoutMode::RealTime));
    // An utterance ending with the jaw open at 0.4 and the head turned by a speech gesture.
    let mut items = utterance(0, 10 * FRAME);
    for item in &mut items {
        if let SpeechPayload::Motion(frame) = &mut item.payload {
            frame.vector.set(Channel::JawOpen, 0.4);
            frame.vector.set(Channel::HeadYaw, 0.15);
        }
    }
    for item in items {
        playout.push(item);
    }
    playout.step(40 * FRAME);
    let frames = video(&drain(&mut playout));
    let last_speech = frames
        .iter()
        .rposition(|f| f.epoch.is_some())
        .expect("speech was shown");
    let after = &frames[last_speech + 1..];
    assert!(after.len() > 20, "{} idle frames after speech", after.len());
    let idle = IdleMotion::new(FrameClock::new(RATE, 25), 1);
    // The first frame after speech still carries most of it; it is gone after the release.
    let yaw_added = |f: &FrameRequest| {
        f.pose.get(Channel::HeadYaw) - idle.pose_at_frame(f.frame_index).get(Channel::HeadYaw)
    };
    assert!(yaw_added(&after[0]) > 0.1, "{}", yaw_added(&after[0]));
    assert!(after[0].pose.get(Channel::JawOpen) > 0.1);
    assert_eq!(
        after[3].pose.get(Channel::JawOpen),
        0.0,
        "the mouth closes within 120 ms"
    );
    assert_eq!(after[15].pose, idle.pose_at_frame(after[15].frame_index));
    // No jump anywhere across the end of speech.
    for w in frames[last_speech.saturating_sub(2)..].windows(3) {
        let d2 = w[2].pose.get(Channel::HeadYaw) - 2.0 * w[1].pose.get(Channel::HeadYaw)
            + w[0].pose.get(Channel::HeadYaw);
        assert!(d2.abs() < 0.01, "head yaw jerks by {d2}");
    }
}
