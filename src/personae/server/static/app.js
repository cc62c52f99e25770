// personae web chat: a persona picker and a streamed conversation. No build step, no libraries.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { personas: [], current: null, sending: false, photos: [] };

function avatarInto(el, persona) {
  el.replaceChildren();
  el.classList.remove("has-image");
  if (persona.avatar_url) {
    const img = document.createElement("img");
    img.src = persona.avatar_url;
    img.alt = "";
    img.addEventListener("error", () => { img.remove(); el.textContent = initial(persona); });
    el.classList.add("has-image");
    el.append(img);
  } else {
    el.textContent = initial(persona);
  }
  el.style.setProperty("--hue", String(hue(persona.id)));
}

function initial(persona) {
  return (persona.name || persona.id).trim().charAt(0).toUpperCase();
}

function hue(text) {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return h;
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body.error?.message || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

// ------------------------------------------------------------------ picker

async function loadPersonas() {
  const list = $("persona-list");
  const response = await fetch("/web/personas", { credentials: "same-origin" });
  list.setAttribute("aria-busy", "false");
  if (!response.ok) {
    $("picker-status").textContent = `Could not load personas: ${await errorText(response)}`;
    return;
  }
  state.personas = (await response.json()).personas;
  list.replaceChildren(...state.personas.map(personaCard));
  if (!state.personas.length) $("picker-status").textContent = "No personas are published yet.";
}

function personaCard(persona) {
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.className = "persona-card";
  link.href = `#/p/${encodeURIComponent(persona.id)}`;
  link.dataset.persona = persona.id;
  const avatar = document.createElement("span");
  avatar.className = "avatar";
  avatar.setAttribute("aria-hidden", "true");
  avatarInto(avatar, persona);
  const text = document.createElement("span");
  text.className = "persona-text";
  const name = document.createElement("strong");
  name.textContent = persona.name;
  const tagline = document.createElement("span");
  tagline.className = "tagline";
  tagline.textContent = persona.tagline;
  text.append(name, tagline);
  link.append(avatar, text);
  item.append(link);
  return item;
}

// ------------------------------------------------------------------ conversation

function photoImg(ref, className) {
  const img = document.createElement("img");
  img.src = `/web/media/${encodeURIComponent(ref)}`;
  img.alt = "A photo you sent";
  img.className = className;
  return img;
}

function bubble(role, text, photos = []) {
  const item = document.createElement("li");
  item.className = `message ${role === "user" ? "from-user" : "from-persona"}`;
  const who = document.createElement("span");
  who.className = "visually-hidden";
  who.textContent = role === "user" ? "You: " : `${state.current?.name || "Persona"}: `;
  const body = document.createElement("p");
  body.className = "bubble";
  body.textContent = text;
  item.append(who);
  for (const ref of photos) item.append(photoImg(ref, "bubble-photo"));
  item.append(body);
  $("messages").append(item);
  return body;
}

// ------------------------------------------------------------------ photos

async function uploadPhoto(file) {
  $("chat-status").textContent = "";
  const response = await fetch("/web/uploads", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": file.type || "application/octet-stream" },
    body: file,
  });
  if (!response.ok) {
    $("chat-status").textContent = `Photo not attached: ${await errorText(response)}`;
    return;
  }
  const { ref } = await response.json();
  state.photos.push(ref);
  const item = document.createElement("li");
  item.append(photoImg(ref, "pending-photo"));
  $("pending-photos").append(item);
}

// A video reply: the persona saying it, rendered by the server when the player asks for it.
function videoBefore(body, slug, replyId) {
  const video = document.createElement("video");
  video.src = `/web/personas/${encodeURIComponent(slug)}/messages/${replyId}/video`;
  video.controls = true;
  video.preload = "metadata";
  video.playsInline = true;
  video.className = "bubble-video";
  video.setAttribute("aria-label", `A video reply from ${state.current?.name || "the persona"}`);
  body.before(video);
  return video;
}

async function showVideo(reply, slug, replyId) {
  const response = await fetch(`/web/personas/${encodeURIComponent(slug)}/conversation`,
    { credentials: "same-origin" });
  if (!response.ok) return;
  const { messages } = await response.json();
  if (messages.find((m) => m.id === replyId)?.video) videoBefore(reply, slug, replyId);
}

async function showPictures(reply, slug, replyId) {
  const response = await fetch(`/web/personas/${encodeURIComponent(slug)}/conversation`,
    { credentials: "same-origin" });
  if (!response.ok) return;
  const { messages } = await response.json();
  const stored = messages.find((m) => m.id === replyId);
  for (const ref of stored?.images || []) {
    const img = photoImg(ref, "bubble-photo");
    img.alt = `A picture from ${state.current?.name || "the persona"}`;
    reply.before(img);
  }
}

// ------------------------------------------------------------------ voice notes
// Recorded with MediaRecorder, uploaded like a photo (POST /web/uploads, audio/*), then sent as
// the message's `voice`: the server hears it, and its words become the person's message.

const recorder = { media: null, chunks: [], started: 0, timer: 0, cancelled: false };

function recordingType() {
  for (const type of ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"]) {
    if (MediaRecorder.isTypeSupported(type)) return type;
  }
  return "";
}

async function startRecording() {
  $("chat-status").textContent = "";
  if (!navigator.mediaDevices?.getUserMedia || !window.MediaRecorder) {
    $("chat-status").textContent =
      "Voice notes need a browser that can record audio, on a page served over https.";
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    $("chat-status").textContent = `Could not use the microphone (${err.name}): allow this ` +
      "site to use it in the browser's settings, then try again.";
    return;
  }
  const type = recordingType();
  const media = new MediaRecorder(stream, type ? { mimeType: type } : {});
  Object.assign(recorder, { media, chunks: [], cancelled: false, started: Date.now() });
  media.addEventListener("dataavailable", (event) => {
    if (event.data.size) recorder.chunks.push(event.data);
  });
  media.addEventListener("stop", () => finishRecording(media, stream));
  media.start();
  showRecording(true);
  recorder.timer = setInterval(() => {
    const seconds = Math.floor((Date.now() - recorder.started) / 1000);
    $("recording-time").textContent =
      `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  }, 250);
}

function showRecording(on) {
  const button = $("record");
  button.setAttribute("aria-pressed", on ? "true" : "false");
  button.setAttribute("aria-label", on ? "Stop and send the voice note" : "Record a voice note");
  $("recording").hidden = !on;
  $("recording-time").textContent = "0:00";
  $("message-input").disabled = on;
  $("attach").disabled = on;
  $("send").disabled = on || state.sending;
  if (!on) clearInterval(recorder.timer);
}

// Stop recording: the note is sent, or (cancel) thrown away without leaving the browser.
function stopRecording(cancel) {
  if (!recorder.media || recorder.media.state === "inactive") return;
  recorder.cancelled = cancel;
  recorder.media.stop();
}

async function finishRecording(media, stream) {
  for (const track of stream.getTracks()) track.stop();
  showRecording(false);
  recorder.media = null;
  const chunks = recorder.chunks;
  recorder.chunks = [];
  if (recorder.cancelled || !state.current) return;
  const blob = new Blob(chunks, { type: media.mimeType || "audio/webm" });
  if (!blob.size) {
    $("chat-status").textContent =
      "Voice note not sent: nothing was recorded. Check your microphone and try again.";
    return;
  }
  const ref = await uploadVoice(blob);
  if (ref) send("", takePhotos(), ref);
}

async function uploadVoice(blob) {
  const response = await fetch("/web/uploads", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": blob.type || "audio/webm" },
    body: blob,
  });
  if (!response.ok) {
    $("chat-status").textContent = `Voice note not sent: ${await errorText(response)}`;
    return null;
  }
  return (await response.json()).ref;
}

// A spoken reply: the persona's voice, made by the server when the player asks for it.
function audioBefore(body, slug, replyId) {
  const audio = document.createElement("audio");
  audio.src = `/web/personas/${encodeURIComponent(slug)}/messages/${replyId}/voice`;
  audio.controls = true;
  audio.preload = "metadata";
  audio.className = "bubble-audio";
  audio.setAttribute("aria-label", `A voice reply from ${state.current?.name || "the persona"}`);
  body.before(audio);
  return audio;
}

// The person's own voice note, played back as they recorded it.
function recordingBefore(body, slug, messageId) {
  const audio = document.createElement("audio");
  audio.src = `/web/personas/${encodeURIComponent(slug)}/messages/${messageId}/recording`;
  audio.controls = true;
  audio.preload = "metadata";
  audio.className = "bubble-audio bubble-recording";
  audio.setAttribute("aria-label", "Your voice note");
  body.before(audio);
  return audio;
}

async function showVoice(reply, slug, replyId) {
  const response = await fetch(`/web/personas/${encodeURIComponent(slug)}/conversation`,
    { credentials: "same-origin" });
  if (!response.ok) return;
  const { messages } = await response.json();
  if (messages.find((m) => m.id === replyId)?.voice) audioBefore(reply, slug, replyId);
}

function takePhotos() {
  const photos = state.photos;
  state.photos = [];
  $("pending-photos").replaceChildren();
  return photos;
}

// Thumbs up/down under a stored reply: POST /web/messages/{id}/rating (pressing again clears).
function rateButtons(body, messageId) {
  const row = document.createElement("div");
  row.className = "rating";
  row.setAttribute("role", "group");
  row.setAttribute("aria-label", "Rate this reply");
  for (const [value, label, mark] of [[1, "Good reply", "👍"], [-1, "Bad reply", "👎"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "rate";
    button.dataset.value = String(value);
    button.setAttribute("aria-label", label);
    button.setAttribute("aria-pressed", "false");
    button.textContent = mark;
    button.addEventListener("click", async () => {
      const pressed = button.getAttribute("aria-pressed") === "true";
      const response = await fetch(`/web/messages/${messageId}/rating`, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ value: pressed ? 0 : value }),
      });
      if (!response.ok) {
        $("chat-status").textContent = `Could not rate: ${await errorText(response)}`;
        return;
      }
      for (const other of row.querySelectorAll("button")) other.setAttribute("aria-pressed", "false");
      button.setAttribute("aria-pressed", pressed ? "false" : "true");
    });
    row.append(button);
  }
  body.parentElement.append(row);
}

function scrollToEnd() {
  const log = $("messages");
  log.scrollTop = log.scrollHeight;
}

async function openPersona(slug) {
  stopRecording(true);
  const response = await fetch(`/web/personas/${encodeURIComponent(slug)}/conversation`,
    { credentials: "same-origin" });
  if (!response.ok) {
    showPicker(`Could not open that persona: ${await errorText(response)}`);
    return;
  }
  const { persona, messages } = await response.json();
  state.current = persona;
  $("picker").hidden = true;
  $("chat").hidden = false;
  $("chat-status").textContent = "";
  $("chat-name").textContent = persona.name;
  $("chat-tagline").textContent = persona.tagline;
  avatarInto($("chat-avatar"), persona);
  document.title = `${persona.name} · personae`;
  const log = $("messages");
  log.replaceChildren();
  bubble("assistant", persona.greeting).parentElement.classList.add("greeting");
  for (const message of messages) {
    const body = bubble(message.role, message.content, message.images || []);
    if (message.video) videoBefore(body, persona.id, message.id);
    if (message.voice) audioBefore(body, persona.id, message.id);
    if (message.voice_note) {
      body.classList.add("voice-note");
      if (message.role === "user") recordingBefore(body, persona.id, message.id);
    }
    if (message.role === "assistant" && message.id) rateButtons(body, message.id);
  }
  takePhotos();
  scrollToEnd();
  $("message-input").focus();
  loadMemory();
}

// ------------------------------------------------------------------ memory panel
// The same controls as the /memory, /forget and /correct chat commands.

function memoryUrl(suffix = "") {
  return `/web/personas/${encodeURIComponent(state.current.id)}/memory${suffix}`;
}

async function memoryCall(method, suffix = "", body = undefined) {
  const response = await fetch(memoryUrl(suffix), {
    method,
    credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) {
    $("memory-status").textContent = `Could not change your memory: ${await errorText(response)}`;
    return null;
  }
  return response.status === 204 ? {} : response.json();
}

async function loadMemory() {
  if (!state.current) return;
  const listing = await memoryCall("GET");
  if (listing) showMemory(listing);
}

function showMemory(listing) {
  $("memory-enabled").checked = listing.enabled;
  $("memory-status").textContent = listing.memories.length
    ? "" : "Nothing yet. Tell me about yourself and I'll remember it.";
  const list = $("memory-list");
  list.replaceChildren();
  for (const memory of listing.memories) {
    const item = document.createElement("li");
    const text = document.createElement("span");
    text.textContent = memory.text;
    const fix = document.createElement("button");
    fix.type = "button";
    fix.textContent = "Correct";
    fix.setAttribute("aria-label", `Correct: ${memory.text}`);
    fix.addEventListener("click", async () => {
      const wording = window.prompt("What should I remember instead?", memory.text);
      if (wording && wording.trim()) {
        const updated = await memoryCall("PUT", `/${memory.id}`, { text: wording.trim() });
        if (updated) showMemory(updated);
      }
    });
    const forget = document.createElement("button");
    forget.type = "button";
    forget.textContent = "Forget";
    forget.setAttribute("aria-label", `Forget: ${memory.text}`);
    forget.addEventListener("click", async () => {
      if (await memoryCall("DELETE", `/${memory.id}`)) loadMemory();
    });
    item.append(text, fix, forget);
    list.append(item);
  }
}

function showPicker(status = "") {
  stopRecording(true);
  state.current = null;
  $("chat").hidden = true;
  $("picker").hidden = false;
  $("picker-status").textContent = status;
  document.title = "personae";
}

// Parses a text/event-stream body into {event, data} objects as bytes arrive.
async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

async function send(text, images = [], voice = null) {
  const persona = state.current;
  state.sending = true;
  $("send").disabled = true;
  $("record").disabled = true;
  $("chat-status").textContent = "";
  const mine = bubble("user", voice ? "Voice note…" : text, images);
  let heard = false;
  if (voice) mine.classList.add("voice-note");
  const reply = bubble("assistant", "");
  reply.classList.add("streaming");
  reply.setAttribute("aria-busy", "true");
  scrollToEnd();
  try {
    const response = await fetch(`/web/personas/${encodeURIComponent(persona.id)}/messages`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(voice ? { text, images, voice } : { text, images }),
    });
    if (!response.ok) throw new Error(await errorText(response));
    for await (const { event, data } of readEvents(response)) {
      if (event === "delta") reply.textContent += data.text;
      // The voice note as heard: its words are the person's message.
      else if (event === "heard") { mine.textContent = data.text; heard = true; }
      // The safety guard stopped or changed the reply: show the reply as stored instead.
      else if (event === "guarded") reply.textContent = data.text;
      else if (event === "done") {
        // The persona sent pictures: its stored reply has them as attachments.
        if (reply.textContent.includes("[[picture")) showPictures(reply, persona.id, data.reply.id);
        reply.textContent = data.reply.content;
        if (voice && heard && data.message?.id) recordingBefore(mine, persona.id, data.message.id);
        if (data.reply.id) rateButtons(reply, data.reply.id);
        if (data.reply.id && state.current?.video_replies !== "never") {
          showVideo(reply, persona.id, data.reply.id);
        }
        if (data.reply.id && state.current?.voice_replies !== "never") {
          showVoice(reply, persona.id, data.reply.id);
        }
        if (data.finish_reason === "length") {
          // Cut at the persona's length limit: say so rather than end mid-sentence silently.
          reply.textContent += " …";
          reply.title = "This reply reached its length limit";
        }
      }
      else if (event === "error") throw new Error(data.error?.message || "the reply failed");
      scrollToEnd();
    }
  } catch (err) {
    if (!reply.textContent) reply.parentElement.remove();
    if (voice && !heard) {  // the note was refused: nothing was said
      mine.parentElement.remove();
      $("chat-status").textContent = `Voice note not sent: ${err.message}`;
    } else {
      $("chat-status").textContent = `No reply: ${err.message}`;
    }
  } finally {
    reply.classList.remove("streaming");
    reply.removeAttribute("aria-busy");
    state.sending = false;
    $("send").disabled = false;
    $("record").disabled = false;
    if ($("memory").open) loadMemory();
  }
}

// ------------------------------------------------------------------ wiring

$("memory").addEventListener("toggle", () => { if ($("memory").open) loadMemory(); });
$("memory-enabled").addEventListener("change", async (event) => {
  const updated = await memoryCall("PUT", "/settings", { enabled: event.target.checked });
  if (updated) showMemory(updated);
});
$("memory-forget-all").addEventListener("click", async () => {
  if (window.confirm("Forget everything this persona remembers about you?")) {
    if (await memoryCall("DELETE")) loadMemory();
  }
});

function route() {
  const match = location.hash.match(/^#\/p\/([^/]+)$/);
  if (match) openPersona(decodeURIComponent(match[1]));
  else showPicker();
}

function autosize(input) {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
}

document.addEventListener("DOMContentLoaded", () => {
  const input = $("message-input");
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if ((!text && !state.photos.length) || state.sending || !state.current) return;
    input.value = "";
    autosize(input);
    send(text, takePhotos());
  });
  $("attach").addEventListener("click", () => $("photo-input").click());
  $("record").addEventListener("click", () => {
    if (recorder.media) stopRecording(false);
    else if (!state.sending && state.current) startRecording();
  });
  $("record-cancel").addEventListener("click", () => stopRecording(true));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && recorder.media) stopRecording(true);
  });
  $("photo-input").addEventListener("change", async (event) => {
    for (const file of event.target.files) await uploadPhoto(file);
    event.target.value = "";
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  input.addEventListener("input", () => autosize(input));
  window.addEventListener("hashchange", route);
  loadPersonas().then(route);
});
