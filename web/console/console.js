// console.js: the Teamline agent console. The agent logs in with their SIP
// user name and password; the page keeps the password in memory only and
// registers itself as a SIP-over-WebSocket phone with JsSIP, like any browser
// phone. An incoming call shows the customer view (from the session-
// authenticated JSON API) before it is answered. The page's state is kept on
// window.console_state for people and for the browser tests.
(function () {
  'use strict';

  const st = {
    loggedIn: false,
    agent: null,          // {id, name, username, team_id, ...} from /console/api/me
    state: '',            // the agent's presence state
    registered: false,
    callState: 'idle',    // idle, ringing, answered, ended, failed
    callId: '',           // X-Teamline-Call of the current or last call
    transferredBy: '',    // X-Teamline-Transferred-By
    viewLoaded: false,    // the customer view of callId is on screen
    muted: false,
    held: false,
    holdMode: '',         // 'sip' (re-INVITE) or 'local' (tracks disabled)
    consultState: '',     // '', 'calling' or 'talking': a call to a colleague before an attended transfer
    inviteAt: 0,
    answeredAt: 0,
    firstPacketAt: 0,
    packetsReceived: 0,
    packetsSent: 0,
    audioLevel: 0,
    notesSaved: 0,
    transferred: false,
    lastRemoteSDP: '',    // Teamline's last SDP, to diagnose re-INVITEs
    errors: []
  };
  window.console_state = st;

  // The fake or real microphone as it is: echo cancellation, noise
  // suppression and gain control would bring a test tone down to a tenth.
  const audioConstraints = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
  // Hold is a re-INVITE (JsSIP's session.hold(): a=sendonly), which Teamline
  // answers from its WebRTC peer; the page also stops its microphone on the
  // held call, so a customer on hold never hears the agent consult a
  // colleague. ?hold=local holds on the page only (no re-INVITE).
  const sipHold = new URLSearchParams(location.search).get('hold') !== 'local';

  const $ = (id) => document.getElementById(id);
  const show = (id, on) => { $(id).hidden = !on; };
  const text = (id, t) => { $(id).textContent = t; };
  const fail = (msg) => { st.errors.push(String(msg)); };

  let password = '';      // only here, only for JsSIP's digest
  let ua = null;
  let session = null;
  let pc = null;
  let consult = null;   // the call to a colleague before an attended transfer
  let pollTimer = null;
  let wrapLeftAt = 0;     // performance.now() when wrap_up_left_ms was read
  let wrapLeftMs = 0;

  async function api(method, path, body) {
    const opts = { method, headers: {}, credentials: 'same-origin' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const res = await fetch('/console/api/' + path, opts);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return { ok: res.ok, status: res.status, data: data || {} };
  }

  function when(iso) {
    const d = new Date(iso);
    return d.toLocaleDateString() + ' ' + d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function el(tag, cls, content) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (content !== undefined) e.textContent = content;
    return e;
  }

  // ---- login, presence -------------------------------------------------

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    text('login-error', '');
    const username = $('username').value.trim();
    const pass = $('password').value;
    const res = await api('POST', 'login', { username, password: pass });
    if (!res.ok) {
      text('login-error', res.data.error || ('login failed (' + res.status + ')'));
      return;
    }
    password = pass;
    $('password').value = '';
    st.loggedIn = true;
    showMe(res.data);
    show('login', false);
    show('desk', true);
    show('who', true);
    show('state-box', true);
    show('logout', true);
    startPhone(res.data);
    loadTeam();
    pollTimer = setInterval(poll, 1000);
    setInterval(tickWrapUp, 250);
  });

  $('logout').addEventListener('click', async () => {
    await api('POST', 'logout');
    password = '';
    if (ua) ua.stop();
    location.reload();
  });

  function showMe(me) {
    st.agent = me;
    st.state = me.state;
    text('agent-name', me.name);
    text('team-name', me.team_name || me.team_id);
    text('state', me.state.replace('_', '-'));
    wrapLeftMs = me.wrap_up_left_ms || 0;
    wrapLeftAt = performance.now();
    tickWrapUp();
    if (me.state === 'away') text('state-detail', me.reason ? '(' + me.reason + ')' : '');
  }

  function tickWrapUp() {
    if (st.state !== 'wrap_up') {
      if (st.state !== 'away') text('state-detail', '');
      return;
    }
    const left = Math.max(0, wrapLeftMs - (performance.now() - wrapLeftAt));
    text('state-detail', Math.ceil(left / 1000) + ' s left');
  }

  async function poll() {
    const res = await api('GET', 'me');
    if (res.status === 401) {
      clearInterval(pollTimer);
      text('presence-msg', 'Your session ended: log in again.');
      return;
    }
    if (res.ok) showMe(res.data);
  }

  async function setState(state, reason) {
    const res = await api('PUT', 'state', { state, reason });
    text('presence-msg', res.ok ? '' : (res.data.error || 'could not change the state'));
    if (res.ok) showMe(res.data);
  }
  $('set-available').addEventListener('click', () => setState('available', ''));
  $('set-away').addEventListener('click', () => setState('away', $('away-reason').value));

  async function loadTeam() {
    const res = await api('GET', 'team');
    if (!res.ok) return;
    const sel = $('transfer-target');
    const chosen = sel.value;
    sel.replaceChildren();
    for (const c of res.data) {
      const o = el('option', '', c.state ? c.name + ' (' + c.state.replace('_', '-') + ')' : c.name);
      o.value = c.uri;
      sel.appendChild(o);
    }
    if (chosen && res.data.some((c) => c.uri === chosen)) sel.value = chosen;
  }

  // ---- the phone ---------------------------------------------------------

  function wsURL(urls) {
    const secure = location.protocol === 'https:';
    const pick = urls.find((u) => u.startsWith(secure ? 'wss:' : 'ws:'));
    return pick || urls[0];
  }

  function startPhone(me) {
    if (!window.JsSIP) {
      fail('JsSIP is not loaded (run make browser-deps)');
      text('sip-status', 'phone unavailable: JsSIP missing');
      return;
    }
    const urls = (me.sip && me.sip.ws_urls) || [];
    if (!urls.length) {
      text('sip-status', 'phone unavailable: Teamline has no WebSocket listener');
      return;
    }
    ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(wsURL(urls))],
      uri: 'sip:' + me.username + '@' + me.sip.domain,
      password,
      register: true,
      session_timers: false,
      user_agent: 'Teamline console'
    });
    ua.on('registered', () => { st.registered = true; text('sip-status', 'phone registered'); });
    ua.on('unregistered', () => { st.registered = false; text('sip-status', 'phone not registered'); });
    ua.on('disconnected', () => { st.registered = false; text('sip-status', 'phone disconnected'); });
    ua.on('registrationFailed', (e) => { fail('registration failed: ' + e.cause); text('sip-status', 'phone registration failed: ' + e.cause); });
    ua.on('newRTCSession', onSession);
    ua.start();
  }

  function busy() { return st.callState === 'ringing' || st.callState === 'answered'; }

  function onSession(e) {
    if (e.originator !== 'remote') return;
    if (busy()) {
      e.session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
      return;
    }
    session = e.session;
    pc = null;
    Object.assign(st, {
      callState: 'ringing', callId: e.request.getHeader('X-Teamline-Call') || '',
      transferredBy: e.request.getHeader('X-Teamline-Transferred-By') || '',
      viewLoaded: false, muted: false, held: false, holdMode: '', transferred: false,
      inviteAt: performance.now(), answeredAt: 0, firstPacketAt: 0, packetsReceived: 0, packetsSent: 0, audioLevel: 0
    });
    const s = session;
    s.on('peerconnection', (ev) => attach(ev.peerconnection));
    s.on('peerconnection:setremotedescriptionfailed', (err) => fail('setRemoteDescription: ' + err));
    s.on('sdp', (ev) => { if (ev.originator === 'remote') st.lastRemoteSDP = ev.sdp; });
    s.on('confirmed', () => { if (s === session) setCall('answered'); });
    s.on('ended', () => { if (s === session) setCall('ended'); });
    s.on('failed', (ev) => { if (s === session) { setCall(st.callState === 'answered' ? 'ended' : 'failed'); fail('call failed: ' + ev.cause); } });
    $('wrapup-note').value = '';
    $('transfer-note').value = '';
    text('wrapup-msg', '');
    text('transfer-msg', '');
    setCall('ringing');
    loadView(st.callId);
    poll();
  }

  function setCall(state) {
    st.callState = state;
    if (state === 'answered' && !st.answeredAt) st.answeredAt = performance.now();
    const titles = { ringing: 'Incoming call', answered: 'On call', ended: 'Call ended', failed: 'Missed call' };
    text('call-status', titles[state] || '');
    show('idle', false);
    show('call', true);
    show('answer', state === 'ringing');
    show('decline', state === 'ringing');
    show('hangup', state === 'answered');
    show('mute', state === 'answered');
    show('hold', state === 'answered');
    show('transfer-box', state === 'answered' && !st.transferred);
    show('wrapup-box', state === 'ended' || state === 'failed');
    if (state === 'answered') loadTeam(); // the colleagues' states, for a transfer
    if (state === 'ended') $('wrapup-note').focus();
    if (state !== 'ringing') poll();
  }

  $('answer').addEventListener('click', () => {
    if (!session || st.callState !== 'ringing') return;
    session.answer({ mediaConstraints: { audio: audioConstraints, video: false }, pcConfig: { iceServers: [] } });
    if (session.connection) attach(session.connection);
  });
  $('decline').addEventListener('click', () => {
    if (session && st.callState === 'ringing') session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
  });
  $('hangup').addEventListener('click', () => { if (session && st.callState === 'answered') session.terminate(); });
  $('mute').addEventListener('click', () => {
    if (!session) return;
    if (st.muted) session.unmute({ audio: true }); else session.mute({ audio: true });
    st.muted = !st.muted;
    text('mute', st.muted ? 'Unmute' : 'Mute');
  });
  // setHold holds or resumes the customer's call.
  function setHold(on) {
    if (!session || st.callState !== 'answered' || st.held === on) return;
    st.holdMode = sipHold && (on ? session.hold() : session.unhold()) ? 'sip' : 'local';
    // Either way: stop sending our microphone to, and playing, the customer.
    const conn = session.connection;
    if (conn) {
      conn.getSenders().forEach((s) => { if (s.track) s.track.enabled = !on && !st.muted; });
      conn.getReceivers().forEach((r) => { if (r.track) r.track.enabled = !on; });
    }
    st.held = on;
    text('hold', on ? 'Resume' : 'Hold');
    text('call-status', on ? 'On hold' : 'On call');
  }
  $('hold').addEventListener('click', () => setHold(!st.held));

  // saveTransferNote stores the note for the colleague on the call, so their
  // screen shows it before they answer; false when it could not be saved.
  async function saveTransferNote() {
    const note = $('transfer-note').value.trim();
    if (!note) return true;
    const res = await api('POST', 'calls/' + encodeURIComponent(st.callId) + '/notes', { kind: 'transfer', body: note });
    if (!res.ok) {
      text('transfer-msg', 'Not transferred: the note could not be saved (' + (res.data.error || res.status) + ').');
      return false;
    }
    st.notesSaved++;
    $('transfer-note').value = '';
    return true;
  }

  // refer sends the customer's call to target: blind, or replacing the
  // consultation with the colleague (an attended transfer).
  function refer(target, options) {
    text('transfer-msg', 'Transferring…');
    try {
      const r = session.refer(target, options);
      r.on('accepted', () => { st.transferred = true; text('transfer-msg', 'Transferred.'); show('transfer-box', false); });
      r.on('failed', (e) => text('transfer-msg', 'The transfer failed' + (e && e.response ? ': ' + e.response.status_code : '') + '.'));
    } catch (e) {
      fail('refer: ' + e);
      text('transfer-msg', 'The transfer failed: ' + e);
    }
  }

  $('transfer').addEventListener('click', async () => {
    if (!session || st.callState !== 'answered' || consult) return;
    const target = $('transfer-target').value;
    if (await saveTransferNote()) refer(target);
  });

  // ---- attended transfer: call the colleague first ----------------------

  function consultEnded() {
    consult = null;
    st.consultState = '';
    show('consult-box', false);
    show('consult', true);
    show('transfer', true);
    if (session && session.connection) attach(session.connection);
    if (!st.transferred && st.callState === 'answered') setHold(false);
  }

  $('consult').addEventListener('click', async () => {
    if (!session || st.callState !== 'answered' || consult) return;
    const target = $('transfer-target').value;
    if (target.startsWith('sip:pool@')) {
      text('transfer-msg', 'Choose a colleague to call first; the national pool takes a transfer directly.');
      return;
    }
    if (!(await saveTransferNote())) return;
    setHold(true);
    const name = $('transfer-target').selectedOptions[0].textContent;
    st.consultState = 'calling';
    show('consult', false);
    show('transfer', false);
    show('consult-box', true);
    show('consult-complete', false);
    text('consult-status', 'Calling ' + name + '…');
    text('transfer-msg', '');
    const k = ua.call(target, { mediaConstraints: { audio: audioConstraints, video: false }, pcConfig: { iceServers: [] } });
    consult = k;
    consult.target = target;
    k.on('confirmed', () => {
      if (k !== consult) return;
      st.consultState = 'talking';
      text('consult-status', 'Talking to ' + name + ' (the customer is on hold)');
      show('consult-complete', true);
      attach(k.connection);
    });
    k.on('ended', () => { if (k === consult) consultEnded(); });
    k.on('failed', (e) => {
      if (k !== consult) return;
      text('transfer-msg', 'The call to your colleague failed: ' + e.cause + '.');
      consultEnded();
    });
  });
  $('consult-complete').addEventListener('click', () => {
    if (!consult || st.consultState !== 'talking') return;
    refer(consult.target, { replaces: consult });
  });
  $('consult-cancel').addEventListener('click', () => { if (consult) consult.terminate(); });

  $('wrapup-save').addEventListener('click', async () => {
    const body = $('wrapup-note').value.trim();
    if (!body || !st.callId) { text('wrapup-msg', 'Write something first.'); return; }
    const res = await api('POST', 'calls/' + encodeURIComponent(st.callId) + '/notes', { kind: 'wrap_up', body });
    if (!res.ok) {
      text('wrapup-msg', 'Not saved: ' + (res.data.error || res.status));
      return;
    }
    st.notesSaved++;
    $('wrapup-note').value = '';
    text('wrapup-msg', 'Note saved.');
    loadView(st.callId);
  });
  $('wrapup-done').addEventListener('click', () => {
    if (busy()) return;
    show('call', false);
    show('idle', true);
  });

  // ---- the customer view -------------------------------------------------

  async function loadView(callId) {
    text('view-status', 'loading the customer…');
    if (!callId) {
      text('view-status', 'This call carries no Teamline call id.');
      return;
    }
    const res = await api('GET', 'calls/' + encodeURIComponent(callId));
    if (callId !== st.callId) return; // another call meanwhile
    if (!res.ok) {
      text('view-status', 'The customer view is not available: ' + (res.data.error || res.status));
      return;
    }
    renderView(res.data);
    st.viewLoaded = true;
  }

  function noteLine(n) {
    const d = el('div', 'note');
    d.appendChild(el('span', '', n.body));
    d.appendChild(el('small', 'muted', ' — ' + n.agent_name + ', ' + when(n.at)));
    return d;
  }

  function renderView(v) {
    text('customer-name', v.customer_name || 'Unknown caller');
    text('customer-number', v.number);
    text('customer-id', v.customer_id ? '· customer ' + v.customer_id : '');
    text('customer-team', v.team_name ? '· ' + v.team_name : (v.team_id ? '· team ' + v.team_id : ''));
    text('view-status', v.missing && v.missing.length ? 'Not available right now: ' + v.missing.join(', ') : '');

    const tb = $('transferred-by');
    const transfers = v.notes.filter((n) => n.kind === 'transfer');
    tb.replaceChildren();
    for (const n of transfers) {
      const p = el('p');
      p.appendChild(el('strong', '', 'Transferred by ' + n.agent_name + ': '));
      p.appendChild(el('span', 'note', n.body));
      tb.appendChild(p);
    }
    if (!transfers.length && st.transferredBy) tb.appendChild(el('p', '', 'Transferred by ' + st.transferredBy + '.'));
    tb.hidden = !tb.childNodes.length;

    const cn = $('call-notes');
    cn.replaceChildren();
    const own = v.notes.filter((n) => n.kind !== 'transfer');
    if (own.length) {
      cn.appendChild(el('h3', '', 'Notes on this call'));
      own.forEach((n) => cn.appendChild(noteLine(n)));
    }

    const ct = $('contacts');
    ct.replaceChildren();
    if (!v.contacts.length) {
      ct.appendChild(el('p', 'muted', 'No earlier calls.'));
    } else {
      const table = el('table');
      const head = el('tr');
      ['When', 'Agent', 'Outcome', 'Notes'].forEach((h) => head.appendChild(el('th', '', h)));
      table.appendChild(head);
      for (const c of v.contacts) {
        const tr = el('tr');
        tr.appendChild(el('td', '', when(c.at)));
        tr.appendChild(el('td', '', c.agent_name || '–'));
        tr.appendChild(el('td', '', c.outcome || '–'));
        const td = el('td');
        c.notes.forEach((n) => td.appendChild(noteLine(n)));
        tr.appendChild(td);
        table.appendChild(tr);
      }
      ct.appendChild(table);
    }

    const cb = $('callbacks');
    cb.replaceChildren();
    if (!v.callbacks.length) cb.appendChild(el('p', 'muted', 'None.'));
    for (const c of v.callbacks) {
      cb.appendChild(el('p', '', when(c.slot_start) + ' (' + c.state + ')' + (c.reason ? ': ' + c.reason : '')));
    }

    const tr = $('trace');
    tr.replaceChildren();
    v.trace.forEach((line) => tr.appendChild(el('li', '', line)));
  }

  // ---- audio and its statistics -----------------------------------------

  function attach(conn) {
    if (!conn || pc === conn) return;
    pc = conn;
    const audio = $('remote');
    const play = (stream) => {
      if (audio.srcObject !== stream) audio.srcObject = stream;
      audio.play().catch((e) => fail('play: ' + e));
    };
    conn.addEventListener('track', (ev) => play(ev.streams[0] || new MediaStream([ev.track])));
    const tracks = conn.getReceivers().map((r) => r.track).filter((t) => t && t.kind === 'audio');
    if (tracks.length) play(new MediaStream(tracks));
    watch(conn);
  }

  async function watch(conn) {
    while (pc === conn && conn.connectionState !== 'closed') {
      try {
        const report = await conn.getStats();
        report.forEach((s) => {
          if (s.kind !== 'audio') return;
          if (s.type === 'inbound-rtp') {
            st.packetsReceived = s.packetsReceived || 0;
            st.audioLevel = s.audioLevel || 0;
            if (st.packetsReceived > 0 && !st.firstPacketAt) st.firstPacketAt = performance.now();
          } else if (s.type === 'outbound-rtp') {
            st.packetsSent = s.packetsSent || 0;
          }
        });
      } catch (e) {
        fail('getStats: ' + e);
      }
      await new Promise((r) => setTimeout(r, st.firstPacketAt ? 250 : 20));
    }
  }
})();
