// The studio's enhancement: every change is a documented /api call, sent with the sign-in
// cookie and the X-Personae-Studio header (a header no cross-site form can send).
"use strict";
(() => {
  const STUDIO = { "X-Personae-Studio": "1" };
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

  async function api(method, url, body, headers = {}) {
    const init = { method, credentials: "same-origin", headers: { ...STUDIO, ...headers } };
    if (body !== undefined) {
      if (body instanceof Blob || body instanceof ArrayBuffer || typeof body === "string") {
        init.body = body;
      } else {
        init.body = JSON.stringify(body);
        init.headers["Content-Type"] = "application/json";
      }
    }
    const answer = await fetch(url, init);
    let data = null;
    const type = answer.headers.get("content-type") || "";
    if (type.includes("json")) data = await answer.json();
    return { status: answer.status, ok: answer.ok, data, answer };
  }

  function errorText(data) {
    return (data && data.error && data.error.message) || "Something went wrong; try again.";
  }

  function toast(text) {
    const box = $("#toast");
    if (box) box.textContent = text;
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  // ------------------------------------------------------------ editor: form <-> persona

  function setPath(target, path, value) {
    const keys = path.split(".");
    let node = target;
    for (const key of keys.slice(0, -1)) {
      if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
      node = node[key];
    }
    const last = keys[keys.length - 1];
    if (value === undefined) delete node[last];
    else node[last] = value;
  }

  function getPath(source, path) {
    return path.split(".").reduce((node, key) => (node == null ? undefined : node[key]), source);
  }

  function parseDialogues(text) {
    const dialogues = [];
    for (const block of text.split(/\n\s*\n/)) {
      const exchanges = [];
      let current = null;
      for (const raw of block.split("\n")) {
        const line = raw.trim();
        if (!line) continue;
        const user = line.match(/^user:\s*(.*)$/i);
        const persona = line.match(/^persona:\s*(.*)$/i);
        if (user) {
          current = { user: user[1], persona: "" };
          exchanges.push(current);
        } else if (persona && current && !current.persona) {
          current.persona = persona[1];
        } else {
          exchanges.push({ user: line, persona: "" }); // the server names what is missing
        }
      }
      if (exchanges.length) dialogues.push(exchanges);
    }
    return dialogues;
  }

  function dialoguesText(dialogues) {
    return (dialogues || [])
      .map((d) => d.map((x) => `User: ${x.user}\nPersona: ${x.persona}`).join("\n"))
      .join("\n\n");
  }

  function base() {
    const node = $("#persona-base");
    return node ? JSON.parse(node.textContent || "{}") : {};
  }

  function setBase(persona) {
    const node = $("#persona-base");
    if (node) node.textContent = JSON.stringify(persona);
  }

  function formPersona(form) {
    const out = structuredClone(base());
    const jsonProblems = [];
    for (const el of $$("[data-kind]", form)) {
      const kind = el.dataset.kind;
      let value;
      if (kind === "bool") value = el.checked;
      else if (kind === "int" || kind === "float") {
        const text = el.value.trim();
        value = text === "" ? undefined : Number.isFinite(Number(text)) ? Number(text) : text;
      } else if (kind === "lines") {
        value = el.value.split("\n").map((s) => s.trim()).filter(Boolean);
      } else if (kind === "json") {
        try {
          value = el.value.trim() === "" ? undefined : JSON.parse(el.value);
        } catch (err) {
          jsonProblems.push({ location: el.name, message: `not valid JSON: ${err.message}` });
          value = getPath(out, el.name);
        }
        if (value === null) value = undefined;
      } else if (kind === "dialogues") value = parseDialogues(el.value);
      else if (kind === "choice") value = el.value || undefined;
      else {
        value = el.value;
        if (value === "" && !el.required) value = undefined;
      }
      setPath(out, el.name, value);
    }
    const entries = loreEntries(out.lorebook);
    if (entries !== null) {
      if (entries.length || out.lorebook) out.lorebook = { ...(out.lorebook || {}), entries };
    }
    return { persona: out, jsonProblems };
  }

  function loreEntries(book) {
    const box = $("#lore-entries");
    if (!box) return null;
    const original = (book && book.entries) || [];
    return $$("fieldset.lore", box).map((set) => {
      const index = set.dataset.lore;
      const entry = index === "new" ? {} : structuredClone(original[Number(index)] || {});
      const field = (name) => $(`[data-lore-field="${name}"]`, set);
      entry.keys = field("keys").value.split(",").map((s) => s.trim()).filter(Boolean);
      entry.content = field("content").value;
      entry.position = field("position").value;
      entry.enabled = field("enabled").checked;
      entry.constant = field("constant").checked;
      return entry;
    });
  }

  function fillForm(form, persona) {
    for (const el of $$("[data-kind]", form)) {
      const value = getPath(persona, el.name);
      const kind = el.dataset.kind;
      if (kind === "bool") el.checked = Boolean(value);
      else if (kind === "lines") el.value = (value || []).join("\n");
      else if (kind === "json") el.value = value == null ? "" : JSON.stringify(value, null, 2);
      else if (kind === "dialogues") el.value = dialoguesText(value);
      else el.value = value == null ? "" : String(value);
    }
  }

  function fieldFor(location) {
    let best = null;
    for (const box of $$("[data-field]")) {
      const path = box.dataset.field;
      if (location === path || location.startsWith(path + ".")) {
        if (!best || path.length > best.dataset.field.length) best = box;
      }
    }
    return best;
  }

  function showProblems(problems, general) {
    for (const p of $$(".field-error")) p.textContent = "";
    for (const el of $$("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const loose = [];
    for (const problem of problems) {
      const text = problem.message + (problem.hint ? ` (${problem.hint})` : "");
      const box = problem.location ? fieldFor(problem.location) : null;
      if (box) {
        const error = $(".field-error", box);
        error.textContent = (error.textContent ? error.textContent + " " : "") + text;
        const control = $("input, textarea, select", box);
        if (control) control.setAttribute("aria-invalid", "true");
      } else loose.push((problem.location ? problem.location + ": " : "") + text);
    }
    if (general) general.textContent = loose.join(" · ");
  }

  function setupEditor() {
    const form = $("#persona-form");
    if (!form) return;
    const yaml = $("#yaml");
    const result = $("#save-result");
    let sending = 0;

    const checkForm = debounce(async () => {
      const { persona, jsonProblems } = formPersona(form);
      if (jsonProblems.length) return showProblems(jsonProblems, result);
      const mine = ++sending;
      const answer = await api("POST", "/api/personas/validate", persona);
      if (mine !== sending) return;
      if (answer.status === 422) showProblems(answer.data.error.problems || [], result);
      else if (answer.ok) {
        showProblems([], result);
        if (document.activeElement !== yaml) yaml.value = answer.data.yaml;
      }
    }, 350);
    form.addEventListener("input", checkForm);
    form.addEventListener("change", checkForm);

    const checkYaml = debounce(async () => {
      const answer = await api("POST", "/api/personas/validate", yaml.value, {
        "Content-Type": "application/yaml",
      });
      const error = $("#yaml-error");
      if (answer.status === 422) {
        const problems = answer.data.error.problems || [];
        error.textContent = problems.map((p) => `${p.location || "file"}: ${p.message}`).join(" · ");
        showProblems(problems, null);
      } else if (answer.ok) {
        error.textContent = "";
        showProblems([], result);
        setBase(answer.data.persona);
        fillForm(form, answer.data.persona);
        renderLore(answer.data.persona.lorebook);
      } else error.textContent = errorText(answer.data);
    }, 500);
    yaml.addEventListener("input", checkYaml);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { persona, jsonProblems } = formPersona(form);
      if (jsonProblems.length) return showProblems(jsonProblems, result);
      const isNew = form.dataset.new === "true";
      const slug = isNew ? persona.id || "" : form.dataset.slug;
      if (!slug) return showProblems([{ location: "id", message: "give the persona an id" }], result);
      const headers = isNew ? { "If-None-Match": "*" } : { "If-Match": `"${form.dataset.revision}"` };
      result.textContent = "Saving…";
      const answer = await api("PUT", `/api/personas/${encodeURIComponent(slug)}/draft`, persona, headers);
      if (answer.ok) {
        if (isNew) {
          window.location.assign(`/studio/personas/${encodeURIComponent(slug)}`);
          return;
        }
        form.dataset.revision = answer.data.revision;
        setBase(answer.data.persona);
        yaml.value = answer.data.yaml;
        showProblems([], result);
        result.textContent = `Saved as revision ${answer.data.revision} (not published yet).`;
        const badge = $("#status-badge");
        if (badge) {
          badge.className = `badge ${answer.data.status}`;
          badge.textContent = answer.data.status === "published" ? "Published" : answer.data.status === "draft" ? "Draft" : "Unpublished changes";
        }
        const chatRevision = $("#chat-revision");
        if (chatRevision) chatRevision.textContent = answer.data.revision;
        refreshRevisions();
      } else if (answer.status === 422) {
        showProblems(answer.data.error.problems || [], result);
        result.textContent = "Not saved: fix the fields marked above. " + result.textContent;
      } else {
        result.textContent = "Not saved: " + errorText(answer.data);
      }
    });
  }

  function refreshRevisions() {
    const box = $("#revisions");
    if (!box || !window.htmx) return;
    window.htmx.ajax("GET", window.location.pathname, { target: "#revisions", select: "#revisions", swap: "outerHTML" });
  }

  // ------------------------------------------------------------ lorebook

  function renderLore(book) {
    const box = $("#lore-entries");
    const template = $("#lore-template");
    if (!box || !template) return;
    box.replaceChildren();
    (book && book.entries ? book.entries : []).forEach((entry, index) => {
      const set = template.content.firstElementChild.cloneNode(true);
      set.dataset.lore = String(index);
      $("legend", set).textContent = `Entry ${index + 1}`;
      $('[data-lore-field="keys"]', set).value = (entry.keys || []).join(", ");
      $('[data-lore-field="content"]', set).value = entry.content || "";
      $('[data-lore-field="position"]', set).value = entry.position || "before_char";
      $('[data-lore-field="enabled"]', set).checked = entry.enabled !== false;
      $('[data-lore-field="constant"]', set).checked = Boolean(entry.constant);
      box.append(set);
    });
  }

  function setupLore() {
    const add = $("#lore-add");
    if (!add) return;
    add.addEventListener("click", () => {
      const set = $("#lore-template").content.firstElementChild.cloneNode(true);
      $("#lore-entries").append(set);
      $('[data-lore-field="keys"]', set).focus();
      $("#persona-form").dispatchEvent(new Event("input"));
    });
    document.addEventListener("click", (event) => {
      const remove = event.target.closest("[data-lore-remove]");
      if (!remove) return;
      remove.closest("fieldset.lore").remove();
      $("#persona-form").dispatchEvent(new Event("input"));
    });
    $("#lore-entries").addEventListener("input", () => $("#persona-form").dispatchEvent(new Event("input")));
  }

  // ------------------------------------------------------------ test chat with traces

  function traceDetails(trace) {
    const details = document.createElement("details");
    details.className = "trace";
    const summary = document.createElement("summary");
    summary.textContent = `Trace: ${trace.usage.prompt_tokens} prompt + ${trace.usage.completion_tokens} reply tokens, ${Math.round(trace.timings.done_ms)} ms, ${trace.status}`;
    details.append(summary);
    const add = (title, rows) => {
      const h = document.createElement("h4");
      h.textContent = title;
      const table = document.createElement("table");
      table.className = "list";
      for (const row of rows) {
        const tr = document.createElement("tr");
        row.forEach((cell, i) => {
          const td = document.createElement(i === 0 ? "th" : "td");
          if (i === 0) td.scope = "row";
          td.textContent = String(cell);
          tr.append(td);
        });
        table.append(tr);
      }
      details.append(h, table);
    };
    add("Model", [["Engine", trace.engine], ["Model", trace.model], ["Budget (tokens)", trace.budget], ["Finish", trace.finish_reason || "—"]]);
    add("Prompt sections", trace.sections.map((s) => [s.name, `${s.tokens} tokens`, `${s.messages} messages`]));
    if (trace.context && trace.context.length) {
      add("Memories, lore and documents", trace.context.map((n) => [
        n.source, `${n.outcome}, ${n.tokens} tokens`,
        (n.reasons || []).map(([key, value]) => `${key}: ${value}`).join("; ") || "—",
      ]));
    }
    if (trace.verdicts && trace.verdicts.length) {
      add("Guard verdicts", trace.verdicts.map((v) => [`${v.guard} (${v.stage})`, v.action, (v.categories || []).join(", ") || "—"]));
    }
    const t = trace.timings;
    add("Timings (ms)", [["Assembled", t.assembled_ms], ["First token", t.first_token_ms ?? "—"], ["Done", t.done_ms], ["Guards", trace.guard_ms]]);
    return details;
  }

  function setupChat() {
    const form = $("#chat-form");
    if (!form) return;
    const log = $("#chat-log");
    let history = [];
    const say = (role, text) => {
      const li = document.createElement("li");
      li.className = role;
      const p = document.createElement("p");
      p.textContent = text;
      li.append(p);
      log.append(li);
      return li;
    };
    $("#chat-reset").addEventListener("click", () => {
      history = [];
      log.replaceChildren();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const box = $("#chat-text");
      const text = box.value.trim();
      if (!text) return;
      box.value = "";
      say("user", text);
      const slug = $("#persona-form").dataset.slug;
      const revision = Number($("#persona-form").dataset.revision);
      const answer = await api("POST", `/api/personas/${encodeURIComponent(slug)}/test`, { text, history, revision });
      if (!answer.ok) {
        say("error", errorText(answer.data));
        return;
      }
      history = [...history, { role: "user", content: text }, { role: "assistant", content: answer.data.reply }];
      const li = say("assistant", answer.data.reply);
      li.append(traceDetails(answer.data.trace));
    });
  }

  // ------------------------------------------------------------ revisions, export, import

  function setupRevisions() {
    document.addEventListener("click", async (event) => {
      const rollback = event.target.closest("[data-rollback]");
      const publish = event.target.closest("[data-publish]");
      if (!rollback && !publish) return;
      const form = $("#persona-form");
      const slug = form.dataset.slug;
      const result = $("#revision-result");
      const answer = rollback
        ? await api("POST", `/api/personas/${encodeURIComponent(slug)}/rollback`, { revision: Number(rollback.dataset.rollback) }, { "If-Match": `"${form.dataset.revision}"` })
        : await api("POST", `/api/personas/${encodeURIComponent(slug)}/publish`, { revision: Number(publish.dataset.publish) });
      if (!answer.ok) {
        result.textContent = errorText(answer.data);
        return;
      }
      const done = rollback ? `rollback-${answer.data.latest_revision}` : `publish-${publish.dataset.publish}`;
      const url = `${window.location.pathname}?done=${done}#revisions`;
      if (url === window.location.pathname + window.location.search + window.location.hash) window.location.reload();
      else window.location.assign(url);
    });
  }

  async function download(url, filename) {
    const answer = await fetch(url, { credentials: "same-origin", headers: STUDIO });
    if (!answer.ok) {
      toast(`Download failed (${answer.status})`);
      return;
    }
    save(await answer.blob(), filename);
  }

  function save(blob, filename) {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  function setupExport() {
    document.addEventListener("click", (event) => {
      const button = event.target.closest("[data-export], [data-export-yaml]");
      if (!button) return;
      if (button.hasAttribute("data-export-yaml")) {
        save(new Blob([$("#yaml").value], { type: "application/yaml" }), button.dataset.filename);
      } else download(button.dataset.export, button.dataset.filename);
    });
  }

  async function importFile(file) {
    const result = $("#import-result");
    const name = file.name.toLowerCase();
    const bytes = await file.arrayBuffer();
    result.textContent = `Importing ${file.name}…`;
    let answer;
    if (name.endsWith(".yaml") || name.endsWith(".yml")) {
      const text = new TextDecoder().decode(bytes);
      const checked = await api("POST", "/api/personas/validate", text, { "Content-Type": "application/yaml" });
      if (!checked.ok) {
        result.textContent = checked.status === 422 ? checked.data.error.problems.map((p) => `${p.location}: ${p.message}`).join(" · ") : errorText(checked.data);
        return;
      }
      answer = await api("PUT", `/api/personas/${encodeURIComponent(checked.data.persona.id)}/draft`, text, { "Content-Type": "application/yaml", "If-None-Match": "*" });
    } else {
      let persona = null;
      if (name.endsWith(".json")) {
        try {
          const data = JSON.parse(new TextDecoder().decode(bytes));
          if (data && !data.spec && !data.data && data.id) persona = data;
        } catch (err) {
          result.textContent = `${file.name} is not valid JSON: ${err.message}`;
          return;
        }
      }
      answer = persona
        ? await api("PUT", `/api/personas/${encodeURIComponent(persona.id)}/draft`, persona, { "If-None-Match": "*" })
        : await api("POST", "/api/cards", new Blob([bytes]), { "Content-Type": "application/octet-stream" });
    }
    if (answer.ok) {
      const slug = answer.data.persona.id;
      result.textContent = `Imported ${answer.data.persona.name} (${slug}).`;
      window.location.assign(`/studio/personas/${encodeURIComponent(slug)}`);
    } else if (answer.status === 422) {
      result.textContent = answer.data.error.problems.map((p) => `${p.location}: ${p.message}`).join(" · ");
    } else result.textContent = errorText(answer.data);
  }

  // A card into this persona (a creator's own): a new revision, then the editor shows it.
  function setupOwnImport() {
    const input = $("[data-card-import]");
    if (!input) return;
    input.addEventListener("change", async () => {
      const file = input.files[0];
      if (!file) return;
      const result = $("#card-import-result");
      const bytes = await file.arrayBuffer();
      const answer = await api("POST", input.dataset.cardImport, new Blob([bytes]), {
        "Content-Type": "application/octet-stream",
      });
      if (answer.ok) {
        const { persona, revision } = answer.data;
        result.textContent = `Imported ${persona.name} as revision ${revision}.`;
        window.location.reload();
      } else if (answer.status === 422) {
        result.textContent = answer.data.error.problems.map((p) => `${p.location}: ${p.message}`).join(" · ");
      } else result.textContent = errorText(answer.data);
    });
  }

  // The channel's own check: one authenticated call to the platform with the stored secrets.
  function setupChannelTests() {
    for (const button of $$("[data-channel-test]")) {
      button.addEventListener("click", async () => {
        const out = button.nextElementSibling;
        out.textContent = "Testing…";
        const answer = await api("POST", button.dataset.channelTest);
        if (!answer.ok) {
          out.textContent = errorText(answer.data);
          return;
        }
        const found = answer.data;
        const who = Object.values(found.account || {}).join(", ");
        out.textContent = found.ok
          ? `Works${who ? ` (${who})` : ""}.`
          : `Failed (${found.outcome}): ${found.error || "no detail"}`;
      });
    }
  }

  // One real message through the connection: the platform's own answer is shown.
  function setupTestMessages() {
    for (const form of $$("[data-test-message]")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const out = $("[role=status]", form);
        const to = form.elements.to.value.trim();
        out.textContent = "Sending…";
        const answer = await api("POST", form.dataset.testMessage, { to });
        if (!answer.ok) {
          out.textContent = errorText(answer.data);
          return;
        }
        const found = answer.data;
        out.textContent = found.sent
          ? `Sent (message id ${found.message_ids.join(", ")}).`
          : `Not sent (${found.outcome}${found.code ? `, ${found.code}` : ""}): ${found.error || "no detail"}`;
      });
    }
  }

  // Binding a channel (admins): the account fields as `name: value` lines, sent to the same
  // POST /api/channels a script would use; its error (the field and the fix) is shown as is.
  const BIND_TEMPLATES = {
    whatsapp: "phone_number_id: \naccess_token: env:WA_TOKEN\napp_secret: env:META_APP_SECRET\nverify_token: env:META_VERIFY_TOKEN",
    messenger: "page_id: \npage_access_token: env:PAGE_TOKEN\napp_secret: env:META_APP_SECRET\nverify_token: env:META_VERIFY_TOKEN",
    instagram: "account_id: \naccess_token: env:IG_TOKEN\napp_secret: env:META_APP_SECRET\nverify_token: env:META_VERIFY_TOKEN",
    telegram: "name: \nbot_token: env:TELEGRAM_TOKEN\nmode: webhook",
  };

  function bindFields(text) {
    const fields = {};
    for (const [n, raw] of text.split("\n").entries()) {
      const line = raw.trim();
      if (!line || line.startsWith("#")) continue;
      const at = line.indexOf(":");
      if (at < 1) throw new Error(`line ${n + 1}: write it as name: value`);
      let value = line.slice(at + 1).trim();
      if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1);
      fields[line.slice(0, at).trim()] = value;
    }
    return fields;
  }

  function setupBinding() {
    const form = $("[data-bind]");
    if (form) {
      const kind = form.elements.kind;
      const fields = form.elements.fields;
      const fill = () => { fields.value = BIND_TEMPLATES[kind.value]; };
      kind.addEventListener("change", fill);
      fill();
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const out = $("[role=status]", form);
        let body;
        try {
          body = { ...bindFields(fields.value), kind: kind.value, persona: form.dataset.persona };
        } catch (error) {
          out.textContent = error.message;
          return;
        }
        out.textContent = "Binding…";
        const answer = await api("POST", form.dataset.bind, body);
        if (answer.ok) {
          window.location.hash = "connections";
          window.location.reload();
        } else out.textContent = errorText(answer.data);
      });
    }
    for (const button of $$("[data-unbind]")) {
      button.addEventListener("click", async () => {
        if (!window.confirm(`Unbind ${button.dataset.name}? The persona stops answering there.`)) return;
        const answer = await api("DELETE", button.dataset.unbind);
        if (answer.ok) window.location.reload();
        else toast(errorText(answer.data));
      });
    }
  }

  function setupImport() {
    const drop = $("[data-import]");
    if (!drop) return;
    const input = $("#import-file");
    input.addEventListener("change", () => input.files[0] && importFile(input.files[0]));
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      const file = event.dataTransfer.files[0];
      if (file) importFile(file);
    });
  }

  // ------------------------------------------------------------ knowledge base

  function sizeText(bytes) {
    if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
    if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
    return `${bytes} B`;
  }

  // The documents come from GET /api/personas/{slug}/knowledge; rows are built as nodes
  // (textContent), so a hostile file name stays text.
  async function loadKnowledge(box) {
    const answer = await api("GET", box.dataset.knowledge);
    const rows = $("#kb-rows", box);
    if (!answer.ok) {
      $("#kb-result", box).textContent = errorText(answer.data);
      return;
    }
    rows.replaceChildren();
    for (const doc of answer.data.documents) {
      const row = document.createElement("tr");
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = doc.name;
      row.append(name);
      const added = new Date(doc.created_at);
      for (const [text, cls] of [[String(doc.chunks), "kb-chunks"], [sizeText(doc.size), "kb-size"],
        [added.toISOString().slice(0, 16).replace("T", " ") + " UTC", "kb-added"]]) {
        const cell = document.createElement("td");
        cell.className = cls;
        cell.textContent = text;
        row.append(cell);
      }
      const cell = document.createElement("td");
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary";
      remove.textContent = `Delete ${doc.name}`;
      remove.dataset.kbDelete = String(doc.id);
      remove.dataset.kbName = doc.name;
      cell.append(remove);
      row.append(cell);
      rows.append(row);
    }
    $("#kb-empty", box).hidden = answer.data.documents.length > 0;
    $("#kb-table", box).hidden = answer.data.documents.length === 0;
  }

  async function uploadKnowledge(box, file) {
    const result = $("#kb-result", box);
    const limit = Number(box.dataset.maxBytes);
    if (file.size > limit) {
      result.textContent = `${file.name} is ${sizeText(file.size)}; the largest document accepted is ${box.dataset.limitText}. Split it, or ask the operator to raise PERSONAE_KNOWLEDGE_MAX_BYTES.`;
      return;
    }
    result.textContent = `Adding ${file.name}…`;
    const url = `${box.dataset.knowledge}?name=${encodeURIComponent(file.name)}`;
    const answer = await api("POST", url, new Blob([await file.arrayBuffer()]), {
      "Content-Type": file.type || "application/octet-stream",
    });
    if (answer.ok) {
      result.textContent = `Added ${answer.data.name}: ${answer.data.chunks} chunks.`;
      await loadKnowledge(box);
    } else result.textContent = errorText(answer.data);
  }

  function setupKnowledge() {
    const box = $("[data-knowledge]");
    if (!box) return;
    const input = $("#kb-file", box);
    const drop = $("#kb-drop", box);
    input.addEventListener("change", async () => {
      if (input.files[0]) await uploadKnowledge(box, input.files[0]);
      input.value = "";
    });
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      const file = event.dataTransfer.files[0];
      if (file) uploadKnowledge(box, file);
    });
    box.addEventListener("click", async (event) => {
      const button = event.target.closest("[data-kb-delete]");
      if (!button) return;
      const name = button.dataset.kbName;
      if (!window.confirm(`Delete ${name} and its chunks from the knowledge base?`)) return;
      const answer = await api("DELETE", `${box.dataset.knowledge}/${button.dataset.kbDelete}`);
      $("#kb-result", box).textContent = answer.ok ? `Deleted ${name}.` : errorText(answer.data);
      await loadKnowledge(box);
      $("#kb-file", box).focus();
    });
    loadKnowledge(box);
  }

  // ------------------------------------------------------------ analytics charts

  function setupCharts() {
    const node = $("#analytics-data");
    if (!node || !window.Chart) return;
    const data = JSON.parse(node.textContent);
    const days = data.daily.map((d) => d.day);
    const colors = { a: "#1d4ed8", b: "#b45309", c: "#047857", d: "#b91c1c" };
    const options = { responsive: true, maintainAspectRatio: false, animation: false };
    new window.Chart($("#chart-daily"), {
      type: "line",
      data: { labels: days, datasets: [
        { label: "Messages", data: data.daily.map((d) => d.messages), borderColor: colors.a, backgroundColor: colors.a },
        { label: "Replies", data: data.daily.map((d) => d.replies), borderColor: colors.b, backgroundColor: colors.b },
      ] },
      options,
    });
    new window.Chart($("#chart-active"), {
      type: "bar",
      data: { labels: days, datasets: [{ label: "Active people", data: data.daily.map((d) => d.active_people), backgroundColor: colors.c }] },
      options,
    });
    new window.Chart($("#chart-status"), {
      type: "bar",
      data: { labels: Object.keys(data.statuses), datasets: [{ label: "Turns", data: Object.values(data.statuses), backgroundColor: colors.a }] },
      options,
    });
    const categories = Object.keys(data.safety_categories);
    new window.Chart($("#chart-safety"), {
      type: "bar",
      data: { labels: categories.length ? categories : ["none"], datasets: [{ label: "Incidents", data: categories.length ? Object.values(data.safety_categories) : [0], backgroundColor: colors.d }] },
      options,
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupEditor();
    setupLore();
    setupChat();
    setupRevisions();
    setupExport();
    setupImport();
    setupOwnImport();
    setupChannelTests();
    setupTestMessages();
    setupBinding();
    setupKnowledge();
    setupCharts();
  });
})();
