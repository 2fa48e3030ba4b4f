// The sandbox console: renders the workspace state the server returns and asks the server to
// act (it builds and signs the Slack payloads). No framework, no build step.
"use strict";

const POLL_MS = 500;
const EMOJI = {
  hourglass_flowing_sand: "⏳", hourglass: "⌛", white_check_mark: "✅", raised_hand: "✋",
  arrows_counterclockwise: "🔄", large_green_circle: "🟢", red_circle: "🔴",
  no_entry_sign: "🚫", no_entry: "⛔", heavy_multiplication_x: "✖️", warning: "⚠️",
  turtle: "🐢", grey_question: "❔", question: "❓", rotating_light: "🚨", tada: "🎉",
  lock: "🔒", clock: "🕒", x: "❌", heavy_check_mark: "✔️", information_source: "ℹ️",
  stopwatch: "⏱️", fast_forward: "⏩", checkered_flag: "🏁", octagonal_sign: "🛑",
  leftwards_arrow_with_hook: "↩️", repeat: "🔁", white_circle: "⚪", large_yellow_circle: "🟡",
  earth_africa: "🌍", globe_with_meridians: "🌐", construction: "🚧", pause_button: "⏸️",
  black_square_for_stop: "⏹️", eyes: "👀", memo: "📝", link: "🔗", bell: "🔔", stethoscope: "🩺",
  star: "⭐", test_tube: "🧪",
};

const app = {
  me: localStorage.getItem("sandbox-user") || "U0ALICE",
  version: -1,
  state: null,
  openThread: null,
  drafts: {},          // view root id -> {"block_id/action_id": value}
  modalKey: null,      // what the modal shows now, so it is rebuilt only when that changes
  localErrors: null,
  home: false,         // the app's Home tab is shown instead of the channel   // {hash, errors}: required inputs left empty, found before submitting
  busy: false,
};

const $ = (id) => document.getElementById(id);

// ---- talking to the console server --------------------------------------------------

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({user: app.me, ...body}),
  });
  const data = await response.json().catch(() => ({}));
  refreshSoon();
  return data;
}

let pollTimer = null;
async function poll() {
  clearTimeout(pollTimer);
  const asked = app.me;
  try {
    const response = await fetch(`/api/state?user=${encodeURIComponent(asked)}&since=${app.version}`,
                                 {cache: "no-store"});
    const data = await response.json();
    if (asked === app.me && !data.unchanged && data.timeline) {
      app.state = data;
      app.version = data.version;
      render();
    }
  } catch (error) {
    // the sandbox was stopped or restarted: keep trying quietly
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

function refreshSoon() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, 50);
}

// ---- mrkdwn ---------------------------------------------------------------------------

function escapeHtml(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function slackDecode(text) {  // Slack escapes &, < and > in message text
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS_LONG = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];

function pad(n) { return String(n).padStart(2, "0"); }

function prettyDay(date, long) {
  const today = new Date();
  const day = new Date(date.getFullYear(), date.getMonth(), date.getDate());
  const diff = Math.round((day - new Date(today.getFullYear(), today.getMonth(), today.getDate()))
    / 86400000);
  if (diff === 0) return "today";
  if (diff === 1) return "tomorrow";
  if (diff === -1) return "yesterday";
  return long ? `${DAYS[date.getDay()]}, ${MONTHS_LONG[date.getMonth()]} ${date.getDate()}`
    : `${MONTHS[date.getMonth()]} ${date.getDate()}`;
}

function formatDate(seconds, format) {
  const date = new Date(seconds * 1000);
  const year = date.getFullYear() === new Date().getFullYear() ? "" : `, ${date.getFullYear()}`;
  const tokens = {
    date_num: `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`,
    date: `${MONTHS_LONG[date.getMonth()]} ${date.getDate()}${year}`,
    date_short: `${MONTHS[date.getMonth()]} ${date.getDate()}${year}`,
    date_long: `${DAYS[date.getDay()]}, ${MONTHS_LONG[date.getMonth()]} ${date.getDate()}${year}`,
    date_pretty: prettyDay(date, false),
    date_short_pretty: prettyDay(date, false),
    date_long_pretty: prettyDay(date, true),
    time: `${pad(date.getHours())}:${pad(date.getMinutes())}`,
    time_secs: `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`,
  };
  const text = format.replace(/\{(\w+)\}/g, (whole, name) => tokens[name] ?? whole);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function userName(id) {
  const person = (app.state?.people || []).find((p) => p.id === id);
  if (person) return person.name;
  return app.state?.users?.[id] || id;
}

function angle(token) {  // <...>: mentions, channels, dates, links
  const [target, label] = splitOnce(token, "|");
  if (target.startsWith("@")) {
    return `<span class="mention">@${escapeHtml(label || userName(target.slice(1)))}</span>`;
  }
  if (target.startsWith("#")) {
    const name = label || app.state?.channels?.[target.slice(1)] || target.slice(1);
    return `<span class="mention channel-mention">#${escapeHtml(name)}</span>`;
  }
  if (target.startsWith("!date^")) {
    const [, seconds, format] = target.split("^");
    const title = label ? ` title="${escapeHtml(slackDecode(label))}"` : "";
    return `<time datetime="${new Date(Number(seconds) * 1000).toISOString()}"${title}>`
      + `${escapeHtml(formatDate(Number(seconds), format || "{date_short_pretty} {time}"))}</time>`;
  }
  if (target.startsWith("!subteam^")) return `<span class="mention">@${escapeHtml(label || "group")}</span>`;
  if (target.startsWith("!")) return `<span class="mention">@${escapeHtml(target.slice(1))}</span>`;
  const url = slackDecode(target);
  const permalink = url.match(/^https:\/\/sandbox\.slack\.local\/archives\/[^/]+\/p(\d+)(\d{6})$/);
  if (permalink) {  // a message of this workspace (chat.getPermalink): go to it
    return `<a href="#" data-goto="${permalink[1]}.${permalink[2]}">`
      + `${escapeHtml(slackDecode(label || target))}</a>`;
  }
  const safe = /^(https?|mailto):/i.test(url) ? url : "#";
  return `<a href="${escapeHtml(safe)}" target="_blank" rel="noopener">${escapeHtml(slackDecode(label || target))}</a>`;
}

function splitOnce(text, separator) {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
}

function mrkdwn(raw) {
  const saved = [];
  const keep = (html) => `\u0000${saved.push(html) - 1}\u0000`;
  let text = String(raw || "");
  text = text.replace(/```([\s\S]*?)```/g, (m, code) =>
    keep(`<pre>${escapeHtml(slackDecode(code.replace(/^\n/, "")))}</pre>`));
  text = text.replace(/`([^`\n]+)`/g, (m, code) => keep(`<code>${escapeHtml(slackDecode(code))}</code>`));
  text = text.replace(/<([^<>\n]+)>/g, (m, token) => keep(angle(token)));
  text = escapeHtml(slackDecode(text));
  text = text.replace(/(^|[\s(>"'])\*(?!\s)([^*\n]+?)\*(?=$|[\s).,;:!?'"<])/g, "$1<b>$2</b>");
  text = text.replace(/(^|[\s(>"'])_(?!\s)([^_\n]+?)_(?=$|[\s).,;:!?'"<])/g, "$1<i>$2</i>");
  text = text.replace(/(^|[\s(>"'])~(?!\s)([^~\n]+?)~(?=$|[\s).,;:!?'"<])/g, "$1<s>$2</s>");
  text = text.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] ?? m);
  text = text.split("\n").map((line) => line.startsWith("&gt; ")
    ? `<blockquote>${line.slice(5)}</blockquote>` : line).join("\n");
  text = text.replace(/\n/g, "<br>").replace(/<\/blockquote><br>/g, "</blockquote>");
  return text.replace(/\u0000(\d+)\u0000/g, (m, i) => saved[Number(i)]);
}

function textObject(object) {
  if (!object) return "";
  if (typeof object === "string") return escapeHtml(object);
  if (object.type === "mrkdwn") return mrkdwn(object.text);
  return escapeHtml(object.text).replace(/:([a-z0-9_+-]+):/g, (m, name) =>
    object.emoji === false ? m : (EMOJI[name] ?? m));
}

// ---- Block Kit ------------------------------------------------------------------------

function renderBlocks(blocks, where) {
  return (blocks || []).map((block) => renderBlock(block, where)).join("");
}

function button(element, where) {
  const style = element.style ? ` button-${element.style}` : "";
  const data = escapeHtml(JSON.stringify({...element, ...where}));
  return `<button type="button" class="block-button${style}" data-action="${data}">`
    + `${textObject(element.text)}</button>`;
}

function renderElement(element, where) {
  if (element.type === "button") return button(element, where);
  if (element.type === "image") {
    return `<img class="context-image" src="${escapeHtml(element.image_url)}" alt="${escapeHtml(element.alt_text || "")}">`;
  }
  return `<span class="unsupported">[${escapeHtml(element.type)}]</span>`;
}

function renderBlock(block, where) {
  const inBlock = {...where, block_id: block.block_id || ""};
  switch (block.type) {
    case "section": {
      const text = block.text ? `<div class="section-text">${textObject(block.text)}</div>` : "";
      const fields = block.fields ? `<div class="section-fields">${block.fields.map((f) =>
        `<div class="field">${textObject(f)}</div>`).join("")}</div>` : "";
      const accessory = block.accessory ? `<div class="accessory">${renderElement(block.accessory, inBlock)}</div>` : "";
      return `<div class="block section"><div class="section-main">${text}${fields}</div>${accessory}</div>`;
    }
    case "context":
      return `<div class="block context">${(block.elements || []).map((e) =>
        e.type === "image" ? renderElement(e, inBlock) : `<span>${textObject(e)}</span>`).join("")}</div>`;
    case "divider":
      return `<hr class="block divider">`;
    case "header":
      return `<div class="block header">${textObject(block.text)}</div>`;
    case "actions":
      return `<div class="block actions">${(block.elements || []).map((e) =>
        renderElement(e, inBlock)).join("")}</div>`;
    case "image":
      return `<div class="block image"><img src="${escapeHtml(block.image_url)}" alt="${escapeHtml(block.alt_text || "")}"></div>`;
    case "input":
      return renderInput(block, where);
    default:
      return `<div class="block unsupported">[${escapeHtml(block.type)} block]</div>`;
  }
}

// Inputs: each control carries data-key ("block_id/action_id") and data-kind, so
// collectValues() can read it back; what a person changed lives in the modal's drafts.
function optionsOf(element) {
  return [...(element.options || []),
    ...(element.option_groups || []).flatMap((group) => group.options || [])];
}

function initialValues(element) {
  const initial = element.initial_options || (element.initial_option ? [element.initial_option] : []);
  return initial.map((o) => o.value);
}

function pickedValues(element, key, where) {
  return where.drafts?.[key] ?? initialValues(element);
}

function multiSelectHtml(block, element, where, labelId) {
  const key = `${block.block_id}/${element.action_id}`;
  const picked = pickedValues(element, key, where);
  const options = optionsOf(element);
  const chosen = picked.map((v) => options.find((o) => o.value === v)).filter(Boolean);
  const max = element.max_selected_items || Infinity;
  const chips = chosen.map((o) => `<li class="chip" data-value="${escapeHtml(o.value)}">`
    + `<span class="chip-text">${textObject(o.text)}</span>`
    + `<button type="button" class="chip-remove" data-remove="${escapeHtml(o.value)}" `
    + `aria-label="Remove ${escapeHtml(o.text.text)}">&times;</button></li>`).join("");
  const offered = (list) => list.filter((o) => !picked.includes(o.value)).map((o) =>
    `<option value="${escapeHtml(o.value)}">${escapeHtml(o.text.text)}</option>`).join("");
  const groups = element.option_groups
    ? element.option_groups.map((g) => {
      const inner = offered(g.options || []);
      return inner ? `<optgroup label="${escapeHtml(g.label.text)}">${inner}</optgroup>` : "";
    }).join("")
    : offered(element.options || []);
  const placeholder = element.placeholder?.text || "Select options";
  const full = chosen.length >= max;
  return `<div class="multi-select" role="group" aria-labelledby="${labelId}" `
    + `data-key="${escapeHtml(key)}" data-kind="multi" data-block="${escapeHtml(block.block_id)}" `
    + `data-action-id="${escapeHtml(element.action_id)}" data-selected="${escapeHtml(JSON.stringify(picked))}">`
    + `<ul class="chips" aria-label="Selected">${chips}</ul>`
    + `<select class="multi-add" aria-label="Add to ${escapeHtml(block.label?.text || "")}"${full || !groups ? " disabled" : ""}>`
    + `<option value="">${escapeHtml(full ? `At most ${max}` : placeholder)}</option>${groups}</select>`
    + `<div class="multi-count muted">${chosen.length} of ${options.length} selected</div>`
    + `</div>`;
}

function checkboxesHtml(block, element, where, labelId) {
  const key = `${block.block_id}/${element.action_id}`;
  const picked = pickedValues(element, key, where);
  const boxes = optionsOf(element).map((o, i) => {
    const id = `cb-${block.block_id}-${element.action_id}-${i}`;
    return `<div class="checkbox"><input type="checkbox" id="${escapeHtml(id)}" value="${escapeHtml(o.value)}"`
      + `${picked.includes(o.value) ? " checked" : ""}>`
      + `<label for="${escapeHtml(id)}">${textObject(o.text)}`
      + (o.description ? `<span class="option-description">${textObject(o.description)}</span>` : "")
      + `</label></div>`;
  }).join("");
  return `<div class="checkboxes" role="group" aria-labelledby="${labelId}" data-key="${escapeHtml(key)}" `
    + `data-kind="checkboxes" data-block="${escapeHtml(block.block_id)}" `
    + `data-action-id="${escapeHtml(element.action_id)}">${boxes}</div>`;
}

function staticSelectHtml(block, element, where, attrs) {
  const key = `${block.block_id}/${element.action_id}`;
  const picked = pickedValues(element, key, where)[0] ?? "";
  const option = (o) => `<option value="${escapeHtml(o.value)}"${o.value === picked ? " selected" : ""}>`
    + `${escapeHtml(o.text.text)}</option>`;
  const body = element.option_groups
    ? element.option_groups.map((g) => `<optgroup label="${escapeHtml(g.label.text)}">`
      + `${(g.options || []).map(option).join("")}</optgroup>`).join("")
    : (element.options || []).map(option).join("");
  return `<select ${attrs} data-kind="one"><option value="">`
    + `${escapeHtml(element.placeholder?.text || "Select an item")}</option>${body}</select>`;
}

function renderInput(block, where) {
  const element = block.element || {};
  const key = `${block.block_id}/${element.action_id}`;
  const id = `input-${block.block_id}-${element.action_id}`;
  const labelId = `label-${block.block_id}-${element.action_id}`;
  const value = escapeHtml(where.drafts?.[key] ?? element.initial_value ?? "");
  const placeholder = element.placeholder ? ` placeholder="${escapeHtml(element.placeholder.text)}"` : "";
  const max = element.max_length ? ` maxlength="${element.max_length}"` : "";
  const attrs = `id="${id}" data-key="${escapeHtml(key)}" data-block="${escapeHtml(block.block_id)}" `
    + `data-action-id="${escapeHtml(element.action_id)}"`;
  let control;
  let labelFor = ` for="${id}"`;
  if (element.type === "plain_text_input") {
    control = element.multiline ? `<textarea ${attrs}${placeholder}${max} rows="3">${value}</textarea>`
      : `<input type="text" ${attrs}${placeholder}${max} value="${value}">`;
  } else if (element.type === "multi_static_select") {
    control = multiSelectHtml(block, element, where, labelId);
    labelFor = "";
  } else if (element.type === "checkboxes") {
    control = checkboxesHtml(block, element, where, labelId);
    labelFor = "";
  } else if (element.type === "static_select") {
    control = staticSelectHtml(block, element, where, attrs);
  } else {
    control = `<div class="unsupported">[${escapeHtml(element.type)}]</div>`;
  }
  const error = where.errors?.[block.block_id];
  const optional = block.optional ? ` <span class="muted">(optional)</span>` : "";
  return `<div class="block input${error ? " has-error" : ""}" data-input-block="${escapeHtml(block.block_id)}">`
    + `<label id="${labelId}"${labelFor}>${textObject(block.label)}${optional}</label>${control}`
    + (block.hint ? `<div class="hint">${textObject(block.hint)}</div>` : "")
    + (error ? `<div class="input-error" role="alert">${escapeHtml(error)}</div>` : "")
    + `</div>`;
}

// ---- the channel ----------------------------------------------------------------------

function avatar(item) {
  if (item.is_bot) return `<div class="avatar bot-avatar">FB</div>`;
  const index = (app.state.people || []).findIndex((p) => p.id === item.user);
  return `<div class="avatar avatar-${index}">${escapeHtml((item.user_name || "?").charAt(0))}</div>`;
}

function clock(ts) {
  const date = new Date(Number(ts.split(".")[0]) * 1000);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function messageHtml(item, inThread) {
  const where = {message_ts: item.ts};
  const body = item.blocks && item.blocks.length ? renderBlocks(item.blocks, where)
    : `<div class="section-text">${mrkdwn(item.text)}</div>`;
  const ephemeral = item.kind === "ephemeral";
  const broadcast = !inThread && item.thread_ts && item.thread_ts !== item.ts
    ? `<div class="broadcast">replied to a thread</div>` : "";
  const replies = !inThread && item.replies && item.replies.length
    ? `<button type="button" class="replies" data-thread="${item.ts}">`
      + `<span class="reply-avatars">${avatar(item.replies[item.replies.length - 1])}</span>`
      + `${item.replies.length} ${item.replies.length === 1 ? "reply" : "replies"}`
      + `<span class="muted"> Last reply ${clock(item.replies[item.replies.length - 1].ts)}</span></button>`
    : "";
  return `<div class="message${ephemeral ? " ephemeral" : ""}" data-ts="${item.ts}">`
    + avatar(item)
    + `<div class="message-body">`
    + (ephemeral ? `<div class="only-you">👁 Only visible to you</div>` : "")
    + broadcast
    + `<div class="message-meta"><span class="author">${escapeHtml(item.user_name)}</span>`
    + (item.is_bot ? `<span class="app-badge">APP</span>` : "")
    + `<span class="time">${clock(item.ts)}</span></div>`
    + `<div class="message-content">${body}</div>`
    + (item.edited ? `<span class="edited">(edited)</span>` : "")
    + replies
    + `</div></div>`;
}

function renderMessages(container, items, inThread) {
  const nearBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 80;
  container.innerHTML = items.length ? items.map((i) => messageHtml(i, inThread)).join("")
    : `<div class="empty">This is the very beginning of <b>#${escapeHtml(app.state.channel.name)}</b>.</div>`;
  if (nearBottom || !container.dataset.seen) container.scrollTop = container.scrollHeight;
  container.dataset.seen = "1";
}

function render() {
  const state = app.state;
  $("channel-name").textContent = state.channel.name;
  $("sidebar-channel").textContent = state.channel.name;
  $("channel-topic").textContent = state.channel.topic || "";
  $("composer-input").placeholder = `Message #${state.channel.name}`;
  renderPeople();
  renderMessages($("messages"), state.timeline, false);
  renderHome();
  renderThread();
  renderModal();
}

function renderHome() {
  $("home").classList.toggle("hidden", !app.home);
  $("channel").classList.toggle("hidden", app.home);
  $("open-home").classList.toggle("active", app.home);
  $("open-home").setAttribute("aria-pressed", String(app.home));
  $("open-channel").classList.toggle("active", !app.home);
  $("open-channel").setAttribute("aria-pressed", String(!app.home));
  const view = app.state.home;
  const html = view ? renderBlocks(view.blocks, {home: true})
    : `<div class="empty">Opening the Home tab…</div>`;
  if ($("home-body").innerHTML !== html) $("home-body").innerHTML = html;
}

function showHome(open) {
  app.home = open;
  if (app.state) renderHome();
  if (open) api("/api/home", {});  // Slack sends app_home_opened each time it is opened
}

function renderPeople() {
  const html = app.state.people.map((p, i) =>
    `<button type="button" class="person${p.id === app.me ? " active" : ""}" data-user="${p.id}" `
    + `aria-pressed="${p.id === app.me}"><span class="avatar avatar-${i}">${escapeHtml(p.name.charAt(0))}</span>`
    + `<span class="person-name">${escapeHtml(p.name)} (${escapeHtml(p.title)})</span></button>`).join("");
  if ($("people").innerHTML !== html) $("people").innerHTML = html;
}

function renderThread() {
  const panel = $("thread");
  const parent = app.openThread && app.state.timeline.find((m) => m.ts === app.openThread);
  if (!parent) {
    panel.classList.add("hidden");
    return;
  }
  panel.classList.remove("hidden");
  $("thread-channel").textContent = app.state.channel.name;
  const replies = parent.replies.map((r) => ({...r, kind: "message", replies: []}));
  const divider = replies.length ? [{divider: replies.length}] : [];
  const container = $("thread-messages");
  renderMessages(container, [{...parent, thread_ts: null}, ...replies], true);
  if (divider.length) {
    const first = container.querySelector(".message");
    first.insertAdjacentHTML("afterend",
      `<div class="reply-count">${replies.length} ${replies.length === 1 ? "reply" : "replies"}</div>`);
  }
}

// ---- modals ---------------------------------------------------------------------------

function collectValues() {
  // Only what the person touched is sent: the server reports the rest as Slack does, with
  // each input's initial value or options.
  const root = app.state.modal.view.root_view_id || app.state.modal.id;
  const drafts = app.drafts[root] || {};
  const values = {};
  document.querySelectorAll("#modal [data-key]").forEach((input) => {
    const key = input.dataset.key;
    if (!(key in drafts)) return;
    values[input.dataset.block] = values[input.dataset.block] || {};
    values[input.dataset.block][input.dataset.actionId] = drafts[key];
  });
  return values;
}

function findInputBlock(blockId) {
  return (app.state?.modal?.view.blocks || []).find((b) => b.type === "input" && b.block_id === blockId);
}

function modalDrafts() {
  const root = app.state.modal.view.root_view_id || app.state.modal.id;
  return (app.drafts[root] = app.drafts[root] || {});
}

function setPicked(widget, values) {
  const drafts = modalDrafts();
  drafts[widget.dataset.key] = values;
  const block = findInputBlock(widget.dataset.block);
  if (!block) return;
  const where = {view_id: app.state.modal.id, drafts, errors: app.state.modal.errors};
  const labelId = widget.getAttribute("aria-labelledby");
  widget.outerHTML = multiSelectHtml(block, block.element, where, labelId);
}

function renderModal() {
  const overlay = $("modal-overlay");
  const modal = app.state.modal;
  if (!modal) {
    overlay.classList.add("hidden");
    app.modalKey = null;
    return;
  }
  const local = app.localErrors?.hash === modal.hash ? app.localErrors.errors : {};
  const errors = {...(modal.errors || {}), ...local};
  const key = JSON.stringify([modal.id, modal.hash, errors]);
  if (key === app.modalKey) return;
  app.modalKey = key;
  const view = modal.view;
  const root = view.root_view_id || modal.id;
  const drafts = (app.drafts[root] = app.drafts[root] || {});
  const general = errors[""];
  $("modal").innerHTML =
    `<header class="modal-header"><h2 id="modal-title">${textObject(view.title)}</h2>`
    + `<button type="button" class="icon-button" data-modal="close" aria-label="Close">&times;</button></header>`
    + `<div class="modal-body">${general ? `<div class="input-error" role="alert">${escapeHtml(general)}</div>` : ""}`
    + renderBlocks(view.blocks, {view_id: modal.id, drafts, errors}) + `</div>`
    + `<footer class="modal-footer">`
    + `<button type="button" class="modal-button" data-modal="close">${textObject(view.close || {type: "plain_text", text: "Cancel"})}</button>`
    + (view.submit ? `<button type="button" class="modal-button primary" data-modal="submit">${textObject(view.submit)}</button>` : "")
    + `</footer>`;
  $("modal").setAttribute("aria-labelledby", "modal-title");
  overlay.classList.remove("hidden");
  const firstError = $("modal").querySelector(
    ".has-error input, .has-error textarea, .has-error select");
  const focus = firstError || (!document.activeElement || !$("modal").contains(document.activeElement)
    ? $("modal").querySelector("input, textarea") : null);
  if (focus) focus.focus({preventScroll: !firstError});  // a long dialog opens at its top
}

function clearLocalError(input) {  // Slack drops "required" once the input changes
  const block = input.closest("[data-input-block]");
  const errors = app.localErrors?.errors;
  if (!block || !errors || !(block.dataset.inputBlock in errors)) return;
  delete errors[block.dataset.inputBlock];
  block.classList.remove("has-error");
  block.querySelector(".input-error")?.remove();
  app.modalKey = JSON.stringify([app.state.modal.id, app.state.modal.hash,
    {...(app.state.modal.errors || {}), ...errors}]);
}

function onModalInput(event) {
  const input = event.target;
  if (!app.state?.modal || !$("modal").contains(input)) return;
  clearLocalError(input);
  const drafts = modalDrafts();
  if (input.classList.contains("multi-add")) {
    const widget = input.closest("[data-kind=multi]");
    if (!input.value) return;
    const key = widget.dataset.key;
    setPicked(widget, [...JSON.parse(widget.dataset.selected), input.value]);
    $("modal").querySelector(`[data-key="${CSS.escape(key)}"] .multi-add`)?.focus();
    return;
  }
  const boxes = input.closest("[data-kind=checkboxes]");
  if (boxes) {
    drafts[boxes.dataset.key] = [...boxes.querySelectorAll("input:checked")].map((b) => b.value);
    return;
  }
  if (!input.dataset || !input.dataset.key) return;
  drafts[input.dataset.key] = input.dataset.kind === "one" ? (input.value ? [input.value] : [])
    : input.value;
}
// Both: selects and checkboxes report "change" (some browsers no "input"); handling one
// twice changes nothing (a picked option's select is replaced by then).
document.addEventListener("input", onModalInput);
document.addEventListener("change", onModalInput);

// Slack's client refuses to submit a modal with a required input left empty (an input block
// without "optional": true), and says so under it; the app never hears of it.
const REQUIRED = "Please complete this required field.";

function missingInputs(modal) {
  const drafts = modalDrafts();
  const missing = {};
  (modal.view.blocks || []).forEach((block) => {
    if (block.type !== "input" || block.optional) return;
    const element = block.element || {};
    const key = `${block.block_id}/${element.action_id}`;
    const value = drafts[key] ?? (element.type === "plain_text_input"
      ? element.initial_value || "" : initialValues(element));
    if (Array.isArray(value) ? value.length === 0 : value === "") missing[block.block_id] = REQUIRED;
  });
  return missing;
}

async function modalCommand(what) {
  const modal = app.state?.modal;
  if (!modal || app.busy) return;
  app.busy = true;
  $("modal").querySelectorAll(".modal-button").forEach((b) => { b.disabled = true; });
  try {
    if (what === "submit") {
      app.modalKey = null;  // always show what comes back, even the same errors again
      const missing = missingInputs(modal);
      app.localErrors = {hash: modal.hash, errors: missing};
      if (Object.keys(missing).length) {  // Slack's client stops here: the app is not asked
        renderModal();
        return;
      }
      await api("/api/submit", {view_id: modal.id, values: collectValues()});
    } else {
      await api("/api/close", {view_id: modal.id});
    }
  } finally {
    app.busy = false;
    $("modal").querySelectorAll(".modal-button").forEach((b) => { b.disabled = false; });
  }
}

// ---- buttons and their confirm dialogs ------------------------------------------------

function confirmFirst(confirm) {
  return new Promise((resolve) => {
    const dialog = $("confirm-dialog");
    dialog.innerHTML = `<h3>${textObject(confirm.title)}</h3>`
      + `<div class="confirm-text">${textObject(confirm.text)}</div>`
      + `<div class="confirm-buttons"><button type="button" class="modal-button" data-answer="no">`
      + `${textObject(confirm.deny || {type: "plain_text", text: "Cancel"})}</button>`
      + `<button type="button" class="modal-button ${confirm.style === "danger" ? "danger" : "primary"}" data-answer="yes">`
      + `${textObject(confirm.confirm || {type: "plain_text", text: "Yes"})}</button></div>`;
    $("confirm-overlay").classList.remove("hidden");
    dialog.onclick = (event) => {
      const answer = event.target.closest("[data-answer]");
      if (!answer) return;
      $("confirm-overlay").classList.add("hidden");
      dialog.onclick = null;
      resolve(answer.dataset.answer === "yes");
    };
  });
}

async function clickButton(element) {
  if (element.confirm && !(await confirmFirst(element.confirm))) return;
  if (element.url) window.open(element.url, "_blank", "noopener");
  if (element.view_id) return;  // buttons inside modals: the bot does not use them
  await api("/api/action", {
    message_ts: element.message_ts,
    action: {action_id: element.action_id, block_id: element.block_id, value: element.value,
             text: element.text?.text},
  });
}

// ---- events ---------------------------------------------------------------------------

document.addEventListener("click", (event) => {
  const goto = event.target.closest("[data-goto]");
  if (goto) {
    event.preventDefault();
    showHome(false);
    const message = $("messages").querySelector(`[data-ts="${CSS.escape(goto.dataset.goto)}"]`);
    if (message) message.scrollIntoView({block: "center"});
    return;
  }
  const remove = event.target.closest("[data-remove]");
  if (remove) {
    const widget = remove.closest("[data-kind=multi]");
    const picked = JSON.parse(widget.dataset.selected).filter((v) => v !== remove.dataset.remove);
    const key = widget.dataset.key;
    setPicked(widget, picked);
    $("modal").querySelector(`[data-key="${CSS.escape(key)}"] .multi-add`)?.focus();
    return;
  }
  const action = event.target.closest("[data-action]");
  if (action) {
    clickButton(JSON.parse(action.dataset.action));
    return;
  }
  const person = event.target.closest("[data-user]");
  if (person) {
    switchTo(person.dataset.user);
    return;
  }
  const thread = event.target.closest("[data-thread]");
  if (thread) {
    app.openThread = thread.dataset.thread;
    $("thread-messages").dataset.seen = "";
    renderThread();
    return;
  }
  const modalButton = event.target.closest("[data-modal]");
  if (modalButton) modalCommand(modalButton.dataset.modal);
});

$("open-home").addEventListener("click", () => showHome(true));
$("open-channel").addEventListener("click", () => showHome(false));

$("thread-close").addEventListener("click", () => {
  app.openThread = null;
  renderThread();
});

function switchTo(user) {
  app.me = user;
  localStorage.setItem("sandbox-user", user);
  app.version = -1;
  app.modalKey = null;
  if (app.home) api("/api/home", {});
  refreshSoon();
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("composer-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  await api("/api/command", {text});
});

$("composer-input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !$("confirm-overlay").classList.contains("hidden")) {
    $("confirm-dialog").querySelector("[data-answer=no]")?.click();
  } else if (event.key === "Escape" && app.state?.modal) {
    modalCommand("close");
  }
});

poll();
