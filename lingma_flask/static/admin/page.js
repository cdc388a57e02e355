// The status page's live parts: polls the admin JSON API and drives the Lingma login.
// Data only ever reaches the page through textContent and attribute setters, never innerHTML.
"use strict";

(function () {
  const LOGIN_POLL_MS = 2000;
  const STATUS_POLL_MS = 5000;
  const root = document.getElementById("page");
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const apiBase = root.dataset.api;
  const qrBase = root.dataset.qr;
  const byId = (id) => document.getElementById(id);
  let loginTimer = null;
  let stopped = false;

  // -- the API -------------------------------------------------------------------------
  async function api(method, path, body) {
    const init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRF-Token"] = csrfToken;
      init.body = JSON.stringify(body || {});
    }
    const response = await fetch(apiBase + path, init);
    let data = {};
    try {
      data = await response.json();
    } catch (err) {
      data = {};
    }
    if (!response.ok) {
      const message = (data.error && data.error.message) || "HTTP " + response.status;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function showPageError(err) {
    const box = byId("page-error");
    if (err && err.status === 401) {
      stopped = true;
      box.textContent = "Your admin session has ended. Reload the page to sign in again.";
    } else {
      box.textContent = "The gateway did not answer: " + (err && err.message ? err.message : err);
    }
    box.hidden = false;
  }

  function clearPageError() {
    if (!stopped) {
      byId("page-error").hidden = true;
    }
  }

  function text(value) {
    return value === null || value === undefined || value === "" ? "—" : String(value);
  }

  function cell(row, label, value) {
    const td = document.createElement("td");
    td.dataset.label = label;
    td.textContent = text(value);
    row.appendChild(td);
    return td;
  }

  // -- instances -----------------------------------------------------------------------
  function firstToken(stats) {
    if (!stats || !stats.count) {
      return null;
    }
    return text(stats.p50) + " / " + text(stats.p95) + " (n=" + stats.count + ")";
  }

  function instanceRow(instance) {
    const row = document.createElement("tr");
    row.dataset.name = instance.name;
    cell(row, "Name", instance.name);
    const state = cell(row, "State", "");
    const badge = document.createElement("span");
    badge.className = "state state-" + String(instance.state).replace(/[^a-z_-]/gi, "");
    badge.textContent = text(instance.state);
    state.replaceChildren(badge);
    cell(row, "PID", instance.pid);
    cell(row, "Ports (socket / http)", text(instance.socket_port) + " / " + text(instance.http_port));
    cell(row, "Logged in", instance.logged_in ? "yes" : "no");
    cell(row, "Account", instance.account);
    cell(row, "Restarts", instance.restarts);
    cell(row, "Reconnects", instance.reconnects);
    cell(row, "In flight", instance.in_flight);
    cell(row, "Last error", instance.last_error).className = "wrap";
    cell(row, "First token p50 / p95 (ms)", firstToken(instance.first_token_ms));
    const actions = cell(row, "Actions", "");
    actions.replaceChildren(restartButton(instance.name));
    return row;
  }

  function restartButton(name) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "restart secondary";
    button.dataset.name = name;
    button.textContent = "Restart";
    return button;
  }

  async function refreshInstances() {
    const data = await api("GET", "instances");
    byId("instances").tBodies[0].replaceChildren(...(data.instances || []).map(instanceRow));
    const note = byId("instances-note");
    note.hidden = data.ready !== false;
    note.textContent = "Not ready for chats: no instance is both running and logged in.";
  }

  async function restartInstance(button) {
    const name = button.dataset.name;
    button.disabled = true;
    try {
      await api("POST", "instances/" + encodeURIComponent(name) + "/restart");
      const note = byId("instances-note");
      note.textContent = "Restarting " + name + "…";
      note.hidden = false;
    } catch (err) {
      showPageError(err);
    } finally {
      button.disabled = false;
    }
  }

  // -- the Lingma login ----------------------------------------------------------------
  function callbackPort(login) {
    if (login.callback_port) {
      return String(login.callback_port);
    }
    try {
      const url = new URL(login.login_url);
      const port = url.searchParams.get("port");
      if (port) {
        return port;
      }
      return new URL(url.searchParams.get("redirect_uri") || "").port;
    } catch (err) {
      return "";
    }
  }

  function showLogin(login) {
    const status = byId("login-status");
    const pending = login.state === "pending";
    if (login.state === "logged_in") {
      status.className = "status ok";
      status.textContent = "Logged in as " + (login.account || "an unnamed account");
    } else if (pending) {
      status.className = "status pending";
      status.textContent = "Waiting for the Aliyun login…";
    } else {
      status.className = "status bad";
      status.textContent = "Not logged in";
    }
    byId("login-start").textContent = pending ? "Start a new login" : "Log in to Lingma";
    byId("login-start").hidden = login.state === "logged_in";
    byId("lingma-logout").hidden = login.state !== "logged_in";
    byId("login-pending").hidden = !(pending && login.login_url);
    if (pending && login.login_url) {
      showLoginLink(login);
    }
  }

  function showLoginLink(login) {
    const link = byId("login-link");
    if (link.textContent !== login.login_url) {
      link.textContent = login.login_url;
      link.href = login.login_url;
      byId("login-qr").src = qrBase + "?data=" + encodeURIComponent(login.login_url);
    }
    const port = callbackPort(login) || "PORT";
    document.querySelectorAll(".callback-port").forEach((span) => { span.textContent = port; });
    byId("callback-url").placeholder = "http://127.0.0.1:" + port + "/auth/callback?…";
  }

  async function refreshLogin() {
    clearTimeout(loginTimer);
    if (stopped) {
      return;
    }
    try {
      const login = await api("GET", "login");
      showLogin(login);
      clearPageError();
      if (login.state === "pending") {
        loginTimer = setTimeout(refreshLogin, LOGIN_POLL_MS);
      }
    } catch (err) {
      showPageError(err);
      loginTimer = setTimeout(refreshLogin, LOGIN_POLL_MS);
    }
  }

  async function startLogin() {
    const button = byId("login-start");
    button.disabled = true;
    byId("callback-error").hidden = true;
    byId("callback-note").hidden = true;
    try {
      showLogin(await api("POST", "login"));
      loginTimer = setTimeout(refreshLogin, LOGIN_POLL_MS);
    } catch (err) {
      showPageError(err);
    } finally {
      button.disabled = false;
    }
  }

  async function sendCallback(event) {
    event.preventDefault();
    const input = byId("callback-url");
    const error = byId("callback-error");
    const note = byId("callback-note");
    error.hidden = true;
    note.hidden = true;
    try {
      await api("POST", "login/callback", { url: input.value.trim() });
      input.value = "";
      note.textContent = "Sent to Lingma; waiting for it to finish the login…";
      note.hidden = false;
      refreshLogin();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  }

  async function logoutLingma() {
    try {
      showLogin(await api("POST", "logout"));
      refreshInstances().catch(showPageError);
    } catch (err) {
      showPageError(err);
    }
  }

  // -- the endpoint --------------------------------------------------------------------
  async function loadEndpoint() {
    const data = await api("GET", "endpoint");
    byId("endpoint-input").value = data.endpoint || "";
  }

  async function saveEndpoint(event) {
    event.preventDefault();
    const note = byId("endpoint-note");
    try {
      const data = await api("POST", "endpoint", { endpoint: byId("endpoint-input").value.trim() });
      byId("endpoint-input").value = data.endpoint || "";
      note.textContent = "Saved: " + (data.endpoint || "the official default");
      note.className = "note";
    } catch (err) {
      note.textContent = err.message;
      note.className = "error";
    }
    note.hidden = false;
  }

  // -- requests ------------------------------------------------------------------------
  function localTime(iso) {
    const date = new Date(iso);
    return isNaN(date.getTime()) ? iso : date.toLocaleTimeString();
  }

  function requestRow(record) {
    const row = document.createElement("tr");
    cell(row, "Time", localTime(record.time)).title = text(record.time);
    cell(row, "Status", record.status);
    cell(row, "Model", record.model);
    cell(row, "First token (ms)", record.first_token_ms);
    cell(row, "Total (ms)", record.total_ms);
    cell(row, "Finish", record.finish_reason);
    cell(row, "Route", record.route);
    cell(row, "Id", record.id);
    return row;
  }

  async function refreshRequests() {
    const records = (await api("GET", "requests")).requests || [];
    byId("requests").tBodies[0].replaceChildren(...records.map(requestRow));
    byId("requests-empty").hidden = records.length > 0;
  }

  // -- polling -------------------------------------------------------------------------
  async function refreshStatus() {
    if (stopped) {
      return;
    }
    if (!document.hidden) {
      try {
        await Promise.all([refreshInstances(), refreshRequests()]);
        clearPageError();
      } catch (err) {
        showPageError(err);
      }
    }
    setTimeout(refreshStatus, STATUS_POLL_MS);
  }

  function start() {
    byId("login-start").addEventListener("click", startLogin);
    byId("lingma-logout").addEventListener("click", logoutLingma);
    byId("callback-form").addEventListener("submit", sendCallback);
    byId("endpoint-form").addEventListener("submit", saveEndpoint);
    byId("instances").addEventListener("click", (event) => {
      const button = event.target.closest("button.restart");
      if (button) {
        restartInstance(button);
      }
    });
    byId("lingma-logout").hidden = !byId("login-status").classList.contains("ok");
    byId("login-start").hidden = !byId("lingma-logout").hidden;
    refreshLogin();
    refreshStatus();
    loadEndpoint().catch(showPageError);
  }

  start();
}());
