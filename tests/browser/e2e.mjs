// End-to-end test of `persona serve` and its widget (web/persona.js) in Debian's Chromium.
//
//   node tests/browser/e2e.mjs --url http://127.0.0.1:8080/ [--server URL] [--out DIR] [--wav FILE]
//
// Usually run by scripts/browser_e2e.sh, which makes the fake-microphone WAV and starts the
// server. Opens the demo page, presses Start and checks, each within a deadline (no fixed
// sleeps: every wait polls a condition): the page connects; the agent's video decodes and keeps
// decoding; its audio arrives; the looped microphone speech gives a `transcript` (or the agent
// starts thinking); captions arrive. Then it mutes the microphone, types "hello" and checks for a
// spoken, lip-synced answer: the typed text comes back as a final transcript, the agent goes
// `speaking`, captions for that turn arrive, audio keeps arriving during the reply, and the
// mouth region of the video changes between canvas grabs. Writes e2e.json (what was observed)
// and screenshots into --out, prints the JSON, and exits 1 naming the first failed expectation.
//
// --url: the demo page. --server: set as the widget's `server` attribute (for a page served
// from elsewhere). Environment: CHROMIUM (default /usr/bin/chromium), PERSONA_E2E_TIMEOUT_S
// (the deadline of each wait, default 60).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const args = parseArgs(process.argv.slice(2));
const PAGE_URL = args.url || process.env.PERSONA_URL || 'http://127.0.0.1:8080/';
const OUT = args.out || 'target/e2e';
const WAV = args.wav || process.env.PERSONA_FAKE_MIC || '';
const STEP_S = Number(process.env.PERSONA_E2E_TIMEOUT_S || 60);
const TYPED = 'hello';
const FRAMES_MIN = 25;

const t0 = Date.now();
const summary = { ok: false, url: PAGE_URL, server: args.server || null, milestones_ms: {}, checks: [] };
const note = (name) => (summary.milestones_ms[name] = Date.now() - t0);
const passed = (what, value) => summary.checks.push({ what, ok: true, ...(value === undefined ? {} : { value }) });

fs.mkdirSync(OUT, { recursive: true });
let browser;
let page;
const consoleLines = [];
const deletes = [];

try {
    await main();
    summary.ok = true;
} catch (e) {
    summary.failed = e.message;
    if (page) await page.screenshot({ path: path.join(OUT, 'failure.png') }).catch(() => {});
} finally {
    summary.total_ms = Date.now() - t0;
    summary.console = consoleLines.slice(-50);
    fs.writeFileSync(path.join(OUT, 'e2e.json'), JSON.stringify(summary, null, 2) + '\n');
    console.log(JSON.stringify(summary, null, 2));
    if (browser) await browser.close().catch(() => {});
    if (!summary.ok) console.error(`\nbrowser e2e FAILED: ${summary.failed}\n(artefacts in ${OUT})`);
    else console.error(`\nbrowser e2e passed in ${(summary.total_ms / 1000).toFixed(1)} s (artefacts in ${OUT})`);
    process.exit(summary.ok ? 0 : 1);
}

async function main() {
    const chromeArgs = [
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        '--autoplay-policy=no-user-gesture-required',
        '--no-sandbox',
    ];
    if (WAV) chromeArgs.push(`--use-file-for-fake-audio-capture=${WAV}`);
    browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: chromeArgs,
    });
    summary.browser = browser.version();
    page = await browser.newPage({ viewport: { width: 800, height: 900 } });
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    // DELETE is sent with keepalive, which Chromium may report to Playwright as aborted even
    // when the server got it; record what is seen (request, response or failure).
    page.on('request', (req) => {
        if (req.method() === 'DELETE') deletes.push({ url: req.url(), status: null });
    });
    page.on('response', (res) => {
        const d = deletes.find((x) => x.url === res.url() && res.request().method() === 'DELETE');
        if (d) d.status = res.status();
    });
    page.on('requestfailed', (req) => {
        const d = deletes.find((x) => x.url === req.url() && req.method() === 'DELETE');
        if (d) d.error = req.failure()?.errorText;
    });

    // --- the page and the widget ------------------------------------------------------------
    const res = await page.goto(PAGE_URL);
    expect(res && res.ok(), `the demo page ${PAGE_URL} loads (HTTP ${res && res.status()})`);
    await page.evaluate(() => customElements.whenDefined('persona-agent'));
    const agent = page.locator('persona-agent').first();
    expect(await agent.count(), 'the demo page holds a <persona-agent> element');
    await agent.evaluate((el, server) => {
        if (server) el.setAttribute('server', server);
        // Record every data-channel message and state change, with the page's clock.
        const rec = (window.__persona = { events: [], states: [] });
        el.addEventListener('persona-event', (e) => rec.events.push({ t: performance.now(), ...e.detail }));
        el.addEventListener('persona-state', (e) => rec.states.push({ t: performance.now(), ...e.detail }));
    }, args.server || null);
    expect((await agent.evaluate((el) => el.state)) === 'idle', 'the widget starts in state "idle"');
    passed('page loads and the widget renders');
    note('page_ready');

    // --- connect ------------------------------------------------------------------------------
    await agent.locator('button.start').click();
    await waitFor('the widget connects (state listening/thinking/speaking)', async () => {
        const { state, message } = await agent.evaluate((el) => ({ state: el.state, message: el.shadowRoot.querySelector('.state').textContent }));
        if (state === 'error' || state === 'ended') throw new Error(`expected the widget to connect; it went to "${message}"`);
        return ['listening', 'thinking', 'speaking'].includes(state);
    });
    note('connected');
    passed('connects');

    const stats = () => agent.evaluate((el) => el.stats());
    const series = (summary.stats = []);
    const sample = async () => {
        const s = { t_ms: Date.now() - t0, state: await agent.evaluate((el) => el.state), ...(await stats()) };
        series.push(s);
        if (s.state === 'error' || s.state === 'ended') {
            const line = await agent.evaluate((el) => el.shadowRoot.querySelector('.state').textContent);
            throw new Error(`expected the session to stay up; the widget went to "${line}"`);
        }
        return s;
    };

    // --- media --------------------------------------------------------------------------------
    const first = await waitFor(`the remote video decodes more than ${FRAMES_MIN} frames`, async () => {
        const s = await sample();
        return s.framesDecoded > FRAMES_MIN && s;
    });
    note('video_frames');
    await waitFor('the remote video keeps decoding (10 more frames)', async () => (await sample()).framesDecoded >= first.framesDecoded + 10);
    const firstAudio = await waitFor('remote audio packets arrive', async () => {
        const s = await sample();
        return s.audioPacketsReceived > 0 && s;
    });
    await waitFor('remote audio packets keep arriving', async () => (await sample()).audioPacketsReceived > firstAudio.audioPacketsReceived + 10);
    const vid = series[series.length - 1];
    summary.video = { frameWidth: vid.frameWidth, frameHeight: vid.frameHeight };
    expect(vid.frameWidth > 0 && vid.frameHeight > 0, `the remote video has a size (${vid.frameWidth}x${vid.frameHeight})`);
    note('audio_packets');
    passed('video decodes and audio arrives', { framesDecoded: vid.framesDecoded, audioPacketsReceived: vid.audioPacketsReceived, size: `${vid.frameWidth}x${vid.frameHeight}` });

    // --- the microphone's speech --------------------------------------------------------------
    const events = (from = 0) => page.evaluate((i) => window.__persona.events.slice(i), from);
    const micTurn = await waitFor('the microphone speech gives a `transcript` event or `state: thinking`', async () => {
        await sample();
        return (await events()).find((e) => e.type === 'transcript' || (e.type === 'state' && e.state === 'thinking'));
    });
    note('mic_turn');
    passed('microphone speech is heard', micTurn);
    const firstCaption = await waitFor('`caption` events arrive', async () => {
        await sample();
        return (await events()).find((e) => e.type === 'caption');
    });
    note('first_caption');
    passed('captions arrive', firstCaption);

    // Mute the microphone so the looped speech does not interrupt the typed turn, and let the
    // current reply (if any) finish; typed text would interrupt it anyway, so this is best effort.
    await agent.locator('button.mute').click();
    expect((await agent.locator('button.mute').textContent()).trim() === 'Unmute', 'the Mute button toggles to "Unmute"');
    try {
        await waitFor('the agent back to listening after muting', async () => (await sample()).state === 'listening', 20);
    } catch (e) {
        if (!e.message.startsWith('expected the agent back to listening')) throw e;
        summary.notes = [...(summary.notes || []), 'the agent was not back to "listening" 20 s after muting; the typed text interrupts it'];
    }

    // --- a typed message and its spoken, lip-synced answer ------------------------------------
    // The mouth region while the agent listens, for comparison with the reply below.
    if ((await agent.evaluate((el) => el.state)) === 'listening') {
        summary.face_motion_listening = await agent.evaluate(grabMouth, { everyMs: 30, maxMs: 1000, state: 'listening' });
    }
    const mark = (await events()).length;
    const baseline = await sample();
    await agent.locator('input').fill(TYPED);
    await agent.locator('button.send').click();
    note('text_sent');
    expect((await agent.locator('input').inputValue()) === '', 'the text box clears after Send');

    const echo = await waitFor(`a final \`transcript\` echoing "${TYPED}"`, async () => {
        await sample();
        return (await events(mark)).find((e) => e.type === 'transcript' && e.final && String(e.text).toLowerCase().includes(TYPED));
    });
    const turn = echo.turn;
    note('typed_transcript');
    passed('typed text comes back as a final transcript', echo);

    await waitFor(`\`state: speaking\` after the transcript of turn ${turn}`, async () => {
        await sample();
        const ev = await events(mark);
        const at = ev.findIndex((e) => e.type === 'transcript' && e.final && e.turn === turn);
        return ev.slice(at + 1).some((e) => e.type === 'state' && e.state === 'speaking' && (e.turn === undefined || e.turn === turn));
    });
    note('speaking');
    const speakStart = series[series.length - 1];
    await page.screenshot({ path: path.join(OUT, 'speaking.png') });

    // Grab the video into a canvas every ~30 ms while the agent speaks (at most 6 s).
    const motion = await agent.evaluate(grabMouth, { everyMs: 30, maxMs: 6000, state: 'speaking' });
    summary.face_motion = motion;
    const during = await sample();

    const words = await waitFor(`\`caption\` words for turn ${turn}`, async () => {
        await sample();
        const w = (await events(mark)).filter((e) => e.type === 'caption' && e.turn === turn);
        return w.length > 0 && w;
    });
    note('typed_captions');
    const timesOk = words.every((w, i) => typeof w.start_ms === 'number' && w.start_ms >= 0 &&
        (i === 0 || w.start_ms >= words[i - 1].start_ms));
    expect(timesOk, `caption words carry increasing start_ms (${JSON.stringify(words.slice(0, 4))})`);
    passed('captions for the typed turn', words.map((w) => w.word).join(' '));

    // Audio during the reply: packets keep coming and, where Chromium measures it, energy grows.
    const after = await waitFor('audio packets grow during the reply', async () => {
        const s = await sample();
        return s.audioPacketsReceived > speakStart.audioPacketsReceived + 25 && s;
    });
    const energy = {
        before_reply: baseline.totalAudioEnergy,
        at_speaking: speakStart.totalAudioEnergy,
        during_reply: Math.max(during.totalAudioEnergy, after.totalAudioEnergy),
    };
    energy.reply_delta = energy.during_reply - energy.at_speaking;
    summary.audio_energy = energy;
    if (series.some((s) => s.totalAudioEnergy > 0)) {
        expect(energy.reply_delta > 0, `the received audio's energy grows during the reply (${JSON.stringify(energy)})`);
        passed('audio energy grows during the reply', energy.reply_delta);
    } else {
        summary.notes = [...(summary.notes || []), 'totalAudioEnergy stayed 0: this Chromium does not measure received audio here (no audio output); only packets were checked'];
    }
    passed('audio packets grow during the reply', after.audioPacketsReceived - speakStart.audioPacketsReceived);
    expect(during.framesDecoded > speakStart.framesDecoded, `video keeps decoding during the reply (${speakStart.framesDecoded} -> ${during.framesDecoded})`);

    // The face moves: if the <video> element presented new frames while we grabbed it, the mouth
    // region must change between grabs. If it presented none (headless playback can stall
    // without an audio device), the numbers are reported but do not fail the test.
    if (motion.presented_frames >= 3 && motion.nonblank) {
        expect(motion.mouth_changed_pairs >= 3, `the mouth region changes while the agent speaks (${JSON.stringify(motion)})`);
        const still = summary.face_motion_listening;
        if (still && still.presented_frames >= 3) {
            expect(motion.mouth_mean_diff > 1.5 * still.mouth_mean_diff,
                `the mouth moves more while speaking than while listening (${motion.mouth_mean_diff} vs ${still.mouth_mean_diff} mean change between grabs)`);
        }
        passed('the face moves while speaking', {
            mouth_mean_diff: motion.mouth_mean_diff, mouth_changed_pairs: `${motion.mouth_changed_pairs}/${motion.pairs}`,
            listening_mouth_mean_diff: still ? still.mouth_mean_diff : null,
        });
    } else {
        summary.notes = [...(summary.notes || []), `the <video> element presented ${motion.presented_frames} new frames during the grabs (nonblank: ${motion.nonblank}); face motion is reported, not checked`];
    }

    const latency = (await events(mark)).find((e) => e.type === 'latency' && e.turn === turn);
    if (latency) summary.latency = latency;
    const reply = (await events(mark)).filter((e) => e.type === 'reply' && e.turn === turn).pop();
    if (reply) summary.reply = reply.text;
    await page.screenshot({ path: path.join(OUT, 'screenshot.png') });

    // --- End ----------------------------------------------------------------------------------
    await agent.locator('button.end').click();
    await waitFor('the widget reaches state "ended" after End', async () => (await agent.evaluate((el) => el.state)) === 'ended');
    await waitFor('End sends DELETE /v1/sessions/{id} and gets a response', async () => {
        summary.delete = deletes[0];
        return deletes.some((d) => d.status !== null);
    }, 10);
    const del = (summary.delete = deletes.find((d) => d.status !== null));
    expect(del.status >= 200 && del.status < 300, `DELETE of the session succeeds (${JSON.stringify(del)})`);
    passed('End deletes the session', del.status);
    note('ended');

    const all = await events();
    summary.event_counts = all.reduce((m, e) => ((m[e.type] = (m[e.type] || 0) + 1), m), {});
    summary.states = (await page.evaluate(() => window.__persona.states)).map((s) => s.state);
    summary.stats_last = series[series.length - 1];
    summary.stats = thin(series, 40);
}

// Runs in the page: grabs the widget's <video> into a canvas every `everyMs` while the agent is
// in `state` (at most maxMs), compares the lower-middle (mouth) region between consecutive
// grabs, and the eyes' band as a control. The regions fit persona's centred face (its mouth
// lies about 42-57% across and 65-72% down).
async function grabMouth(el, { everyMs, maxMs, state }) {
    const video = el.shadowRoot.querySelector('video');
    const W = 128, H = 128;
    const canvas = document.createElement('canvas');
    canvas.width = W;
    canvas.height = H;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    let presented = 0;
    if (video.requestVideoFrameCallback) {
        const count = () => { presented++; video.requestVideoFrameCallback(count); };
        video.requestVideoFrameCallback(count);
    }
    const region = (data, x0, x1, y0, y1) => {
        const out = [];
        for (let y = Math.floor(y0 * H); y < Math.ceil(y1 * H); y++)
            for (let x = Math.floor(x0 * W); x < Math.ceil(x1 * W); x++) {
                const i = (y * W + x) * 4;
                out.push(0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2]);
            }
        return out;
    };
    const diff = (a, b) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
    const grabs = [];
    const start = performance.now();
    const currentTime0 = video.currentTime;
    while (performance.now() - start < maxMs && el.state === state) {
        if (video.videoWidth > 0) {
            ctx.drawImage(video, 0, 0, W, H);
            const d = ctx.getImageData(0, 0, W, H).data;
            grabs.push({ mouth: region(d, 0.36, 0.64, 0.58, 0.8), top: region(d, 0.3, 0.7, 0.38, 0.52), max: Math.max(...region(d, 0, 1, 0, 1)) });
        }
        await new Promise((r) => setTimeout(r, everyMs));
    }
    const mouthDiffs = [], topDiffs = [];
    for (let i = 1; i < grabs.length; i++) {
        mouthDiffs.push(diff(grabs[i].mouth, grabs[i - 1].mouth));
        topDiffs.push(diff(grabs[i].top, grabs[i - 1].top));
    }
    const mean = (a) => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : 0);
    const r2 = (v) => Math.round(v * 100) / 100;
    return {
        grabs: grabs.length,
        grab_ms: Math.round(performance.now() - start),
        presented_frames: presented,
        video_time_advanced_s: r2(video.currentTime - currentTime0),
        nonblank: grabs.some((g) => g.max > 16),
        mouth_mean_diff: r2(mean(mouthDiffs)),
        mouth_max_diff: r2(Math.max(0, ...mouthDiffs)),
        mouth_changed_pairs: mouthDiffs.filter((d) => d > 0.5).length,
        control_eyes_mean_diff: r2(mean(topDiffs)),
        pairs: mouthDiffs.length,
    };
}

// Polls `fn` every 200 ms until it returns something truthy (returned), or throws naming `what`
// after PERSONA_E2E_TIMEOUT_S. An error thrown by `fn` fails at once.
async function waitFor(what, fn, timeoutS = STEP_S) {
    const deadline = Date.now() + timeoutS * 1000;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`expected ${what} within ${timeoutS} s`);
        await new Promise((r) => setTimeout(r, 200));
    }
}

function expect(cond, what) {
    if (!cond) throw new Error(`expected ${what}`);
}

function thin(list, n) {
    if (list.length <= n) return list;
    const step = list.length / n;
    return Array.from({ length: n }, (_, i) => list[Math.floor(i * step)]).concat([list[list.length - 1]]);
}

function parseArgs(argv) {
    const out = {};
    for (let i = 0; i < argv.length; i++) {
        const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
        if (!m) throw new Error(`unexpected argument ${argv[i]} (see the top of e2e.mjs)`);
        out[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
    }
    return out;
}
