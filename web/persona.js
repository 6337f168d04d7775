/*
 * persona.js: the browser widget for `persona serve`, a talking-face video agent over WebRTC.
 *
 * Embed it with one script tag and one element (no build step, no dependencies):
 *
 *   <script src="http://HOST:PORT/persona.js"></script>
 *   <persona-agent server="http://HOST:PORT"></persona-agent>
 *
 * `server` is optional: it defaults to the origin this script was loaded from. Pressing Start
 * creates a session (POST /v1/sessions), sends the microphone (or, without one, only receives)
 * and shows the agent's face, live captions and a text box for typed messages.
 *
 * For embedders and tests, the element
 *   - dispatches bubbling events: `persona-event` (detail = each message from the server's
 *     `events` data channel, parsed) and `persona-state` (detail = {state, message});
 *   - has methods start(), stop(), send(text) and async stats() (inbound RTP counters),
 *     and a `state` getter: idle | connecting | listening | thinking | speaking | ended | error.
 */
(() => {
    'use strict';
    if (customElements.get('persona-agent')) return;

    // document.currentScript is only set while this file first runs, so read it now.
    const SCRIPT_ORIGIN = (() => {
        try {
            return new URL(document.currentScript.src).origin;
        } catch {
            return location.origin;
        }
    })();
    const ICE_GATHER_MAX_MS = 2000;

    const STYLE = `
        :host { display: block; max-width: 440px; font: 15px/1.4 system-ui, sans-serif; color: #222; }
        .face { position: relative; background: #111; border-radius: 8px; overflow: hidden;
                aspect-ratio: 1; }
        video { width: 100%; height: 100%; object-fit: contain; display: block; }
        .captions { position: absolute; left: 0; right: 0; bottom: 0; padding: 6px 10px;
                    background: linear-gradient(transparent, rgba(0,0,0,.75)); color: #fff;
                    min-height: 1.4em; }
        .user { opacity: .75; font-style: italic; }
        .controls, form { display: flex; gap: 6px; margin-top: 8px; }
        form input { flex: 1; min-width: 0; padding: 4px 6px; }
        button { padding: 4px 12px; cursor: pointer; }
        button:disabled { cursor: default; }
        .state { margin-top: 6px; font-size: 13px; color: #555; }
        .state.error { color: #b00020; }
        .note { font-size: 13px; color: #8a5a00; }
    `;

    const HTML = `
        <style>${STYLE}</style>
        <div class="face">
            <video part="video" playsinline autoplay></video>
            <div class="captions" part="captions">
                <div class="user"></div>
                <div class="agent"></div>
            </div>
        </div>
        <div class="controls">
            <button class="start" part="start">Start</button>
            <button class="mute" part="mute" disabled>Mute</button>
            <button class="end" part="end" disabled>End</button>
        </div>
        <form part="form">
            <input name="text" part="input" placeholder="Type a message…" autocomplete="off" disabled>
            <button class="send" type="submit" part="send" disabled>Send</button>
        </form>
        <div class="state" part="state">idle</div>
        <div class="note" part="note"></div>
    `;

    class PersonaAgent extends HTMLElement {
        constructor() {
            super();
            const root = this.attachShadow({ mode: 'open' });
            root.innerHTML = HTML;
            const $ = (sel) => root.querySelector(sel);
            this._ui = {
                video: $('video'), user: $('.user'), agent: $('.agent'),
                start: $('.start'), mute: $('.mute'), end: $('.end'),
                form: $('form'), input: $('input'), send: $('.send'),
                state: $('.state'), note: $('.note'),
            };
            this._state = 'idle';
            this._session = null; // {id, token, base}
            this._pc = null;
            this._dc = null;
            this._mic = null; // MediaStream from getUserMedia, or null
            this._run = 0; // bumped on every start/stop so a stale start() gives up
            this._captions = { turn: -1, words: [], t0: null, t0Turn: undefined, timer: 0 };
            this._stateTurn = -1;

            this._ui.start.onclick = () => this.start();
            this._ui.end.onclick = () => this.stop();
            this._ui.mute.onclick = () => this._toggleMute();
            this._ui.form.onsubmit = (e) => {
                e.preventDefault();
                const text = this._ui.input.value.trim();
                if (text && this.send(text)) this._ui.input.value = '';
            };
            this._onPageHide = () => this._cleanup();
        }

        get server() {
            const attr = this.getAttribute('server');
            return attr ? new URL(attr, location.href).href.replace(/\/+$/, '') : SCRIPT_ORIGIN;
        }

        get state() {
            return this._state;
        }

        connectedCallback() {
            addEventListener('pagehide', this._onPageHide);
        }

        disconnectedCallback() {
            removeEventListener('pagehide', this._onPageHide);
            this._cleanup();
        }

        // Creates a session and connects. Resolves when the answer is applied (media follows).
        async start() {
            if (this._pc || this._state === 'connecting') return;
            const run = ++this._run;
            const live = () => run === this._run;
            this._setState('connecting');
            this._note('');
            this._ui.user.textContent = this._ui.agent.textContent = '';
            this._ui.start.disabled = true;
            this._ui.end.disabled = false;
            try {
                const base = this.server;
                const res = await reach(base, `${base}/v1/sessions`, {
                    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
                });
                if (!res.ok) throw new Error(await errorText(res, 'creating a session'));
                const s = await res.json();
                this._session = { id: s.id, token: s.token, base };
                if (!live()) return this._cleanup();

                try {
                    this._mic = await navigator.mediaDevices.getUserMedia({ audio: true });
                } catch (e) {
                    this._mic = null;
                    this._note(`No microphone (${e.name || e.message}): you can still type.`);
                }
                if (!live()) return this._cleanup();

                const pc = (this._pc = new RTCPeerConnection({ iceServers: iceServers(s.ice_servers) }));
                const remote = new MediaStream();
                this._ui.video.srcObject = remote;
                pc.ontrack = (e) => {
                    remote.addTrack(e.track);
                    this._ui.video.play().catch(() => {});
                };
                pc.onconnectionstatechange = () => {
                    if (pc !== this._pc) return;
                    if (pc.connectionState === 'failed') this._fail('the connection to the server failed');
                };
                if (this._mic) {
                    pc.addTransceiver(this._mic.getAudioTracks()[0], {
                        direction: 'sendrecv', streams: [this._mic],
                    });
                } else {
                    pc.addTransceiver('audio', { direction: 'recvonly' });
                }
                pc.addTransceiver('video', { direction: 'recvonly' });
                const dc = (this._dc = pc.createDataChannel('events'));
                dc.onmessage = (e) => this._onMessage(e.data);
                dc.onopen = () => {
                    this._setControls(true);
                    if (this._state === 'connecting') this._setState('listening'); // until the server says
                };
                dc.onclose = () => {
                    if (dc === this._dc && this._state !== 'error') this._end('ended');
                };

                await pc.setLocalDescription(await pc.createOffer());
                await iceGatheringDone(pc, ICE_GATHER_MAX_MS);
                if (!live()) return;
                // offer_url is a path under the server's API root (which may itself sit under a path).
                const offerUrl = new URL(base + (s.offer_url || `/v1/sessions/${s.id}/offer`));
                const ans = await reach(base, offerUrl, {
                    method: 'POST',
                    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${s.token}` },
                    body: pc.localDescription.sdp,
                });
                if (!ans.ok) throw new Error(await errorText(ans, 'sending the offer'));
                const sdp = await ans.text();
                if (!live()) return;
                await pc.setRemoteDescription({ type: 'answer', sdp });
                this._ui.mute.disabled = !this._mic;
            } catch (e) {
                if (live()) this._fail(e.message || String(e));
            }
        }

        // Ends the session: closes the connection, stops the mic, deletes the session.
        stop() {
            this._end('ended');
        }

        // Sends typed text to the agent; false when not connected.
        send(text) {
            if (!this._dc || this._dc.readyState !== 'open') return false;
            this._dc.send(JSON.stringify({ type: 'text', text: String(text) }));
            return true;
        }

        // Counters from the inbound RTP streams (video frames, audio packets and energy).
        async stats() {
            const out = {
                framesDecoded: 0, audioPacketsReceived: 0, audioBytes: 0, totalAudioEnergy: 0,
                frameWidth: 0, frameHeight: 0,
            };
            if (!this._pc) return out;
            (await this._pc.getStats()).forEach((r) => {
                if (r.type !== 'inbound-rtp') return;
                if (r.kind === 'video') {
                    out.framesDecoded += r.framesDecoded || 0;
                    out.frameWidth = r.frameWidth || out.frameWidth;
                    out.frameHeight = r.frameHeight || out.frameHeight;
                } else if (r.kind === 'audio') {
                    out.audioPacketsReceived += r.packetsReceived || 0;
                    out.audioBytes += r.bytesReceived || 0;
                    out.totalAudioEnergy += r.totalAudioEnergy || 0;
                }
            });
            return out;
        }

        // --- internals ----------------------------------------------------------------------

        _onMessage(data) {
            let msg;
            try {
                msg = JSON.parse(data);
            } catch {
                return;
            }
            this.dispatchEvent(new CustomEvent('persona-event', { detail: msg, bubbles: true, composed: true }));
            const cap = this._captions;
            switch (msg.type) {
                case 'state':
                    if (msg.state === 'ended') return this._end('ended');
                    // A late state of an interrupted turn is no longer the agent's state.
                    if (typeof msg.turn === 'number') {
                        if (msg.turn < this._stateTurn) break;
                        this._stateTurn = msg.turn;
                    }
                    if (msg.state === 'speaking') {
                        cap.t0 = performance.now();
                        cap.t0Turn = msg.turn; // undefined when the server does not say
                        if (msg.turn > cap.turn) Object.assign(cap, { turn: msg.turn, words: [] });
                    } else if (msg.state === 'thinking') {
                        cap.t0 = null;
                    }
                    this._setState(msg.state);
                    this._renderCaptions();
                    break;
                case 'transcript':
                    this._ui.user.textContent = `You: ${msg.text}${msg.final ? '' : '…'}`;
                    if (msg.final && msg.turn > cap.turn) cap.t0 = null; // a new reply is coming
                    break;
                case 'caption':
                    if (msg.turn < cap.turn) break; // a late word of an older turn
                    if (msg.turn > cap.turn) {
                        // The first word of a new reply: unless it is being spoken already, wait
                        // for its `speaking` to start the clock.
                        if (cap.t0Turn !== undefined || this._state !== 'speaking') cap.t0 = null;
                        Object.assign(cap, { turn: msg.turn, words: [] });
                    }
                    cap.words.push(msg);
                    this._renderCaptions();
                    break;
                case 'error':
                    this._note(`Server: ${msg.message}`);
                    break;
                case 'ended':
                    this._end('ended', msg.reason ? `ended: ${msg.reason}` : 'ended');
                    break;
            }
        }

        // Shows the words of the current reply whose start_ms has passed since the reply's
        // audio began (approximated by the arrival of `state: speaking`), and re-arms a timer
        // for the next word.
        _renderCaptions() {
            const cap = this._captions;
            clearTimeout(cap.timer);
            if (cap.t0 === null) {
                this._ui.agent.textContent = '';
                return;
            }
            const elapsed = performance.now() - cap.t0;
            const shown = cap.words.filter((w) => (w.start_ms || 0) <= elapsed);
            this._ui.agent.textContent = shown.map((w) => w.word).join(' ');
            const next = cap.words.find((w) => (w.start_ms || 0) > elapsed);
            if (next) cap.timer = setTimeout(() => this._renderCaptions(), next.start_ms - elapsed);
        }

        _toggleMute() {
            const track = this._mic && this._mic.getAudioTracks()[0];
            if (!track) return;
            track.enabled = !track.enabled;
            this._ui.mute.textContent = track.enabled ? 'Mute' : 'Unmute';
        }

        _setControls(connected) {
            this._ui.input.disabled = this._ui.send.disabled = !connected;
        }

        _setState(state, message = state) {
            this._state = state;
            const el = this._ui.state;
            el.textContent = message;
            el.classList.toggle('error', state === 'error');
            this.dispatchEvent(new CustomEvent('persona-state', {
                detail: { state, message }, bubbles: true, composed: true,
            }));
        }

        _note(text) {
            this._ui.note.textContent = text;
        }

        _fail(message) {
            this._end('error', `error: ${message}`);
        }

        _end(state, message = state) {
            if (!this._pc && !this._session && this._state === state) return;
            this._run++;
            this._cleanup();
            this._setState(state, message);
        }

        // Closes everything this session holds; safe to call more than once.
        _cleanup() {
            const { _pc: pc, _mic: mic, _session: s } = this;
            this._pc = this._dc = this._mic = this._session = null;
            if (pc) pc.close();
            if (mic) mic.getTracks().forEach((t) => t.stop());
            if (s) {
                fetch(`${s.base}/v1/sessions/${encodeURIComponent(s.id)}`, {
                    method: 'DELETE', headers: { Authorization: `Bearer ${s.token}` }, keepalive: true,
                }).catch(() => {});
            }
            clearTimeout(this._captions.timer);
            this._captions = { turn: -1, words: [], t0: null, t0Turn: undefined, timer: 0 };
            this._stateTurn = -1;
            this._ui.video.srcObject = null;
            this._ui.start.disabled = false;
            this._ui.end.disabled = this._ui.mute.disabled = true;
            this._ui.mute.textContent = 'Mute';
            this._setControls(false);
        }
    }

    // The server's ICE servers, without null fields (RTCPeerConnection would read them as "null").
    function iceServers(list) {
        return (list || []).map((s) => {
            const out = { urls: s.urls };
            if (s.username != null) out.username = s.username;
            if (s.credential != null) out.credential = s.credential;
            return out;
        });
    }

    // Resolves when ICE gathering completes, or after maxMs (then the candidates so far are sent).
    function iceGatheringDone(pc, maxMs) {
        if (pc.iceGatheringState === 'complete') return Promise.resolve();
        return new Promise((resolve) => {
            const done = () => {
                clearTimeout(timer);
                pc.removeEventListener('icegatheringstatechange', check);
                resolve();
            };
            const check = () => pc.iceGatheringState === 'complete' && done();
            const timer = setTimeout(done, maxMs);
            pc.addEventListener('icegatheringstatechange', check);
        });
    }

    // fetch(), with a message that says what to check when the server cannot be reached.
    async function reach(base, url, init) {
        try {
            return await fetch(url, init);
        } catch {
            throw new Error(`cannot reach the server at ${base} (is it running, and does it allow this page's origin?)`);
        }
    }

    // The server's JSON error message (`{"error": "..."}`), else a short plain-text body, else
    // the HTTP status.
    async function errorText(res, doing) {
        let message = '';
        try {
            const body = (await res.text()).trim();
            try {
                message = String(JSON.parse(body).error || '');
            } catch {
                if (body.length < 200 && !body.startsWith('<')) message = body;
            }
        } catch {}
        message = message || `HTTP ${res.status} ${res.statusText}`.trim();
        if (res.status === 429) {
            const after = res.headers.get('Retry-After');
            message += after ? ` (the server is busy: retry in ${after} s)` : ' (the server is busy: retry later)';
        }
        return `${doing}: ${message}`;
    }

    customElements.define('persona-agent', PersonaAgent);
})();
