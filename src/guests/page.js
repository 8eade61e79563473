// The guest page: join by name, search, enqueue, the queue with who added what, and the
// buttons the guest's permissions allow. Every piece of dynamic text goes in with
// textContent (never parsed as markup): names and titles are guests' and the catalog's.
"use strict";

const $ = (id) => document.getElementById(id);
let token = localStorage.getItem("tonearm-guest-token") || "";
let me = null;
let state = "stopped";

function say(text) {
  $("message").textContent = text || "";
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (token) opts.headers["Authorization"] = "Bearer " + token;
  if (method === "POST") {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body || {});
  }
  const r = await fetch(path, opts);
  let data = {};
  try { data = await r.json(); } catch (e) { data = {}; }
  if (r.status === 401) {
    // Expired, or the host restarted: join again.
    token = "";
    localStorage.removeItem("tonearm-guest-token");
    show(false);
  }
  if (!r.ok) {
    const msg = data.error ? data.error.message : "HTTP " + r.status;
    say(msg);
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  say("");
  return data;
}

function may(p) {
  return !!me && (me.permissions.includes(p) || me.permissions.includes("admin"));
}

function show(joined) {
  $("join-view").hidden = joined;
  $("party-view").hidden = !joined;
}

function renderMe() {
  $("me").textContent = me.name;
  $("perms").textContent = "may: " + me.permissions.join(", ");
  for (const b of document.querySelectorAll("[data-perm]")) {
    b.disabled = !may(b.dataset.perm);
  }
}

function trackText(t) {
  const artists = (t.artists || []).join(", ");
  return (t.name || t.uri) + (artists ? " — " + artists : "");
}

function renderQueue(q) {
  state = q.state;
  const list = $("queue");
  list.replaceChildren();
  for (const item of q.items) {
    if (q.current !== null && item.index < q.current) continue;
    const li = document.createElement("li");
    li.dataset.uri = item.uri;
    if (item.index === q.current) li.className = "current";
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = trackText(item);
    li.appendChild(title);
    if (item.added_by) {
      const by = document.createElement("span");
      by.className = "by";
      by.textContent = "added by " + item.added_by;
      li.appendChild(by);
    }
    if (item.index !== q.current && (item.mine || may("remove"))) {
      const rm = document.createElement("button");
      rm.type = "button";
      rm.textContent = "remove";
      rm.addEventListener("click", () =>
        api("POST", "/api/remove", { index: item.index }).then(refresh).catch(() => {}));
      li.appendChild(rm);
    }
    list.appendChild(li);
  }
}

async function refresh() {
  if (!token) return;
  try {
    const q = await api("GET", "/api/queue");
    me = q.me;
    renderMe();
    renderQueue(q);
  } catch (e) { /* said */ }
}

async function join() {
  try {
    const r = await api("POST", "/api/join", { name: $("name").value });
    token = r.token;
    localStorage.setItem("tonearm-guest-token", token);
    me = { name: r.name, permissions: r.permissions };
    show(true);
    renderMe();
    refresh();
  } catch (e) { /* said */ }
}

async function search() {
  const q = $("query").value.trim();
  if (!q) return;
  try {
    const r = await api("GET", "/api/search?q=" + encodeURIComponent(q));
    const list = $("results");
    list.replaceChildren();
    for (const t of r.results) {
      const li = document.createElement("li");
      li.dataset.uri = t.uri;
      const title = document.createElement("span");
      title.textContent = trackText(t);
      li.appendChild(title);
      const add = document.createElement("button");
      add.type = "button";
      add.className = "add";
      add.textContent = "add";
      add.disabled = !may("enqueue");
      add.addEventListener("click", () =>
        api("POST", "/api/enqueue", { uri: t.uri }).then(refresh).catch(() => {}));
      li.appendChild(add);
      list.appendChild(li);
    }
    if (r.results.length === 0) say("nothing found");
  } catch (e) { /* said */ }
}

function command(path) {
  return () => api("POST", path, {}).then(refresh).catch(() => {});
}

document.addEventListener("DOMContentLoaded", () => {
  $("join").addEventListener("click", join);
  $("name").addEventListener("keydown", (e) => { if (e.key === "Enter") join(); });
  $("search").addEventListener("click", search);
  $("query").addEventListener("keydown", (e) => { if (e.key === "Enter") search(); });
  $("next").addEventListener("click", command("/api/next"));
  $("prev").addEventListener("click", command("/api/prev"));
  $("playpause").addEventListener("click", () =>
    command(state === "playing" ? "/api/pause" : "/api/play")());
  if (token) {
    api("GET", "/api/me").then((r) => {
      me = r;
      show(true);
      renderMe();
      refresh();
    }).catch(() => show(false));
  } else {
    show(false);
  }
  setInterval(refresh, 2000);
});
