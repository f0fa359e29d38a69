// streamedge players: WHEP and HTTP-FLV playback, WHIP camera publishing.
// Query parameters fill the form (?app=&stream=), start a mode at once
// (?auto=whep|flv|whip) and, for automated checks, POST the page's stats
// as JSON to a URL every second (?report=URL).
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const video = $('video');
let stopCurrent = () => {};
let mode = '';

for (const k of ['app', 'stream']) {
  if (params.get(k)) $(k).value = params.get(k);
}

function say(msg) { $('status').textContent = msg; }

function streamPath(kind) {
  return '/' + encodeURIComponent($('app').value) + '/' + encodeURIComponent($('stream').value) + '/' + kind;
}

// waitGathering gives the browser's candidates a moment to join the offer:
// the server answers with all of its own, and trickles nothing back.
function waitGathering(pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const done = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, 2000);
  });
}

// signal runs WHIP or WHEP: POST the offer, apply the answer, and keep the
// session URL so Stop can DELETE it.
async function signal(pc, kind) {
  await pc.setLocalDescription(await pc.createOffer());
  await waitGathering(pc);
  const resp = await fetch(streamPath(kind), {
    method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
  });
  const body = await resp.text();
  if (resp.status !== 201) throw new Error(kind + ': ' + resp.status + ' ' + body);
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  return new URL(resp.headers.get('Location'), location.href).href;
}

function endSession(pc, location) {
  pc.close();
  if (location) fetch(location, { method: 'DELETE' }).catch(() => {});
}

// preferH264 puts H.264 first: streamedge carries H.264 and Opus only.
function preferH264(transceiver) {
  if (!transceiver.setCodecPreferences || !RTCRtpSender.getCapabilities) return;
  const codecs = RTCRtpSender.getCapabilities('video').codecs;
  const h264 = codecs.filter((c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine || ''));
  if (h264.length) transceiver.setCodecPreferences(h264.concat(codecs.filter((c) => !h264.includes(c))));
}

async function playWHEP() {
  stop();
  mode = 'whep';
  const pc = new RTCPeerConnection();
  preferH264(pc.addTransceiver('video', { direction: 'recvonly' }));
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.ontrack = (e) => { if (e.streams[0]) video.srcObject = e.streams[0]; else video.srcObject = new MediaStream([e.track]); };
  let location = '';
  stopCurrent = () => endSession(pc, location);
  location = await signal(pc, 'whep');
  say('playing over WHEP: ' + location);
  statsLoop(pc);
}

async function publishWHIP() {
  stop();
  mode = 'whip';
  const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
  video.srcObject = media;
  const pc = new RTCPeerConnection();
  for (const track of media.getTracks()) {
    const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [media] });
    if (track.kind === 'video') preferH264(t);
  }
  let location = '';
  stopCurrent = () => { media.getTracks().forEach((t) => t.stop()); endSession(pc, location); };
  location = await signal(pc, 'whip');
  say('publishing over WHIP: ' + location);
  statsLoop(pc);
}

function playFLV() {
  stop();
  mode = 'flv';
  if (!window.mpegts || !mpegts.isSupported()) {
    say('HTTP-FLV playback needs mpegts.js (run `make vendor`) and a browser with MSE');
    return;
  }
  const url = '/' + $('app').value + '/' + $('stream').value + '.flv';
  const player = mpegts.createPlayer({ type: 'flv', isLive: true, url: new URL(url, location.href).href });
  player.attachMediaElement(video);
  player.load();
  player.play();
  stopCurrent = () => { player.destroy(); };
  say('playing over HTTP-FLV: ' + url);
  statsLoop(null);
}

function stop() {
  stopCurrent();
  stopCurrent = () => {};
  video.srcObject = null;
  mode = '';
}

// statsLoop shows, and with ?report= posts, what the browser decodes or sends.
let statsTimer = 0;
function statsLoop(pc) {
  clearInterval(statsTimer);
  statsTimer = setInterval(async () => {
    const s = { mode, width: video.videoWidth, height: video.videoHeight, framesDecoded: 0, framesSent: 0, bytes: 0 };
    if (pc) {
      (await pc.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') { s.framesDecoded = r.framesDecoded || 0; s.bytes += r.bytesReceived || 0; }
        if (r.type === 'outbound-rtp' && r.kind === 'video') { s.framesSent = r.framesSent || 0; s.bytes += r.bytesSent || 0; }
      });
    } else if (video.getVideoPlaybackQuality) {
      s.framesDecoded = video.getVideoPlaybackQuality().totalVideoFrames;
    }
    say(JSON.stringify(s));
    if (params.get('report')) {
      fetch(params.get('report'), { method: 'POST', body: JSON.stringify(s) }).catch(() => {});
    }
  }, 1000);
}

function run(fn) { fn().catch((e) => say('error: ' + e.message)); }
$('whep').onclick = () => run(playWHEP);
$('whip').onclick = () => run(publishWHIP);
$('flv').onclick = () => playFLV();
$('stop').onclick = () => { stop(); say('stopped'); };

const auto = { whep: () => run(playWHEP), whip: () => run(publishWHIP), flv: playFLV }[params.get('auto')];
if (auto) auto();
