// phone.js: what the Teamline browser phone pages share. It reads the page's
// parameters, keeps the phone's state on window.phone for people and for the
// browser tests, plays the remote audio and watches the call's getStats().
(function () {
  'use strict';

  const phone = {
    lib: '',
    registered: false,
    callState: 'idle',   // idle, ringing, answered, ended, failed
    inviteAt: 0,         // performance.now() when the INVITE arrived
    answeredAt: 0,
    firstPacketAt: 0,    // first inbound RTP packet seen in getStats()
    packetsReceived: 0,  // inbound-rtp audio packetsReceived
    packetsSent: 0,      // outbound-rtp audio packetsSent
    audioLevel: 0,       // inbound-rtp audioLevel (needs the <audio> to play)
    totalAudioEnergy: 0,
    errors: []
  };
  window.phone = phone;

  function show(id, text) {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  let pc = null;
  let polling = false;

  async function poll() {
    if (polling) return;
    polling = true;
    while (pc && pc.connectionState !== 'closed') {
      try {
        const report = await pc.getStats();
        report.forEach((s) => {
          if (s.kind !== 'audio') return;
          if (s.type === 'inbound-rtp') {
            phone.packetsReceived = s.packetsReceived || 0;
            phone.audioLevel = s.audioLevel || 0;
            phone.totalAudioEnergy = s.totalAudioEnergy || 0;
            if (phone.packetsReceived > 0 && !phone.firstPacketAt) phone.firstPacketAt = performance.now();
          } else if (s.type === 'outbound-rtp') {
            phone.packetsSent = s.packetsSent || 0;
          }
        });
      } catch (e) {
        phone.errors.push('getStats: ' + e);
      }
      // Fast while waiting for the first packet (it is a measured time), then calm.
      await new Promise((r) => setTimeout(r, phone.firstPacketAt ? 250 : 10));
    }
    polling = false;
  }

  window.TeamlinePhone = {
    // The fake or real microphone is used as it is: echo cancellation, noise
    // suppression and gain control would bring a test tone down to a tenth.
    audioConstraints: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },

    // start reads ?ws=&user=&pass=&domain= and returns them with the helpers
    // the page's SIP library code calls, or null when one is missing.
    start(lib) {
      phone.lib = lib;
      const q = new URLSearchParams(location.search);
      const p = { ws: q.get('ws'), user: q.get('user'), pass: q.get('pass'), domain: q.get('domain') || location.hostname };
      if (!p.ws || !p.user || !p.pass) {
        phone.errors.push('missing parameters: need ws, user and pass');
        show('reg', 'missing parameters: need ?ws=&user=&pass=&domain=');
        return null;
      }
      show('reg', 'registering ' + p.user + '@' + p.domain);
      p.setRegistered = (ok) => { phone.registered = ok; show('reg', ok ? 'registered' : 'not registered'); };
      p.setCall = (state) => {
        phone.callState = state;
        if (state === 'answered' && !phone.answeredAt) phone.answeredAt = performance.now();
        show('call', state);
      };
      p.busy = () => phone.callState === 'ringing' || phone.callState === 'answered';
      p.invited = () => { phone.inviteAt = performance.now(); p.setCall('ringing'); };
      p.fail = (msg) => { phone.errors.push(String(msg)); };
      // attach plays the peer connection's remote audio and starts watching its stats.
      p.attach = (conn) => {
        if (!conn || pc === conn) return;
        pc = conn;
        const audio = document.getElementById('remote');
        const play = (stream) => {
          if (audio.srcObject !== stream) audio.srcObject = stream;
          audio.play().catch((e) => phone.errors.push('play: ' + e));
        };
        conn.addEventListener('track', (ev) => play(ev.streams[0] || new MediaStream([ev.track])));
        const receivers = conn.getReceivers ? conn.getReceivers() : [];
        const tracks = receivers.map((r) => r.track).filter((t) => t && t.kind === 'audio');
        if (tracks.length) play(new MediaStream(tracks));
        poll();
      };
      return p;
    }
  };
})();
