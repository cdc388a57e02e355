// The status page's live parts: polls the admin JSON API and drives the Lingma login.
// Data only ever reaches the page through textContent and attribute setters, never innerHTML.
"use strict";

(function () {
  const LOGIN_POLL_MS = 2000;
  // After a pasted callback the page polls until the gateway says logged in, for at most
  // this long: the worker that answers may not have caught up with the login yet.
  const LOGIN_WAIT_MS = 60000;
  const STATUS_POLL_MS = 5000;
  const root = document.getElementById("page");
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const apiBase = root.dataset.api;
  const qrBase = root.dataset.qr;
  const byId = (id) => document.getElementById(id);
  let loginTimer = null;
  let loginWaitUntil = 0;
  let loginAsked = 0;  // numbers the login polls: an answer to an older one is dropped
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

  function workerCell(row, record) {
    // another host's worker (the store's heartbeats) is named with its host
    const name = (record.remote ? text(record.host) + " / " : "") + text(record.worker) + (record.stale ? " (stale)" : "");
    cell(row, "Worker", name).title = "pid " + text(record.worker_pid);
  }

  function instanceRow(instance) {
    const row = document.createElement("tr");
    row.dataset.name = instance.name;
    row.dataset.worker = instance.worker === null || instance.worker === undefined ? "" : String(instance.worker);
    workerCell(row, instance);
    cell(row, "Name", instance.name);
    const state = cell(row, "State", "");
    const badge = document.createElement("span");
    const ready = instance.state === "ready";
    // "ready" without a login cannot take a chat: not shown green
    const loggedOut = ready && !instance.logged_in;
    badge.className = "state state-" + (loggedOut ? "not-logged-in" : String(instance.state).replace(/[^a-z_-]/gi, ""));
    badge.textContent = loggedOut ? "ready, not logged in" : text(instance.state);
    state.replaceChildren(badge);
    cell(row, "PID", instance.pid);
    cell(row, "Ports (socket / http)", text(instance.socket_port) + " / " + text(instance.http_port));
    cell(row, "Logged in", instance.logged_in ? "yes" : "no");
    cell(row, "Account", instance.account);
    cell(row, "Restarts / reconnects", text(instance.restarts) + " / " + text(instance.reconnects));
    cell(row, "In flight", instance.in_flight);
    // a last error is news only while the instance is not ready (a restart leaves one behind)
    cell(row, "Last error", ready ? null : instance.last_error).className = "wrap";
    cell(row, "First token p50 / p95 (ms)", firstToken(instance.first_token_ms));
    const actions = cell(row, "Actions", "");
    // another host's instances are restarted from that host's page
    actions.replaceChildren(...(instance.remote ? [] : [restartButton(instance.name, row.dataset.worker)]));
    return row;
  }

  function restartButton(name, worker) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "restart secondary";
    button.dataset.name = name;
    button.dataset.worker = worker;
    button.textContent = "Restart";
    return button;
  }

  function notReadyText(data) {
    const workers = data.workers || [];
    const idle = workers.filter((w) => !w.ready).map((w) => text(w.index));
    const where = workers.length > 1 && idle.length ? " (worker " + idle.join(", ") + ")" : "";
    return "Not ready for chats" + where + ": no instance is both running and logged in.";
  }

  async function refreshInstances() {
    const data = await api("GET", "instances");
    byId("instances").tBodies[0].replaceChildren(...(data.instances || []).map(instanceRow));
    const note = byId("instances-note");
    note.hidden = data.ready !== false;
    note.textContent = notReadyText(data);
  }

  async function restartInstance(button) {
    const name = button.dataset.name;
    const body = button.dataset.worker === "" ? {} : { worker: Number(button.dataset.worker) };
    button.disabled = true;
    try {
      const answer = await api("POST", "instances/" + encodeURIComponent(name) + "/restart", body);
      const note = byId("instances-note");
      const worker = answer.worker === null || answer.worker === undefined ? ""
        : " on worker " + answer.worker + " (pid " + text(answer.pid) + ")";
      note.textContent = "Restarting " + name + worker + "…";
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
    // while a login is pending its link is the primary action: a new login would invalidate
    // the link the operator may have opened already
    const open = byId("login-open");
    open.hidden = !(pending && login.login_url);
    if (pending && login.login_url) {
      open.href = login.login_url;
    }
    byId("login-start").textContent = pending ? "Start a new login" : "Log in to Lingma";
    byId("login-start").classList.toggle("secondary", pending);
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

  function showLoginNote(message) {
    const note = byId("login-note");
    note.textContent = message || "";
    note.hidden = !message;
  }

  async function refreshLogin() {
    clearTimeout(loginTimer);
    if (stopped) {
      return;
    }
    const asked = ++loginAsked;
    try {
      const login = await api("GET", "login");
      if (asked !== loginAsked) {
        return;  // a newer poll (after a click) is under way: one chain of polls only
      }
      clearPageError();
      if (login.state === "logged_in") {
        const was = loginWaitUntil;
        loginWaitUntil = 0;
        showLoginNote("");
        showLogin(login);
        if (was) {
          refreshInstances().catch(showPageError);
        }
        return;
      }
      if (loginWaitUntil > Date.now()) {
        // after a paste: not logged in yet (or a worker that has not caught up): keep asking
        if (login.state === "pending") {
          showLogin(login);
        }
        loginTimer = setTimeout(refreshLogin, LOGIN_POLL_MS);
        return;
      }
      if (loginWaitUntil) {
        loginWaitUntil = 0;
        showLoginNote("Lingma did not confirm the login within " + LOGIN_WAIT_MS / 1000 +
          " s of the pasted address. Check the address, or open the login link again.");
      }
      showLogin(login);
      if (login.state === "pending") {
        loginTimer = setTimeout(refreshLogin, LOGIN_POLL_MS);
      }
    } catch (err) {
      if (asked === loginAsked) {
        showPageError(err);
        loginTimer = setTimeout(refreshLogin, LOGIN_POLL_MS);
      }
    }
  }

  async function startLogin() {
    const button = byId("login-start");
    button.disabled = true;
    byId("callback-error").hidden = true;
    byId("callback-note").hidden = true;
    showLoginNote("");
    loginWaitUntil = 0;
    loginAsked += 1;  // a poll under way answers for the login before this one
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
      loginWaitUntil = Date.now() + LOGIN_WAIT_MS;
      refreshLogin();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  }

  async function logoutLingma() {
    loginWaitUntil = 0;
    loginAsked += 1;
    clearTimeout(loginTimer);
    showLoginNote("");
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
    const failed = typeof record.status === "number" && record.status >= 400;
    row.className = failed ? "failed" : "";
    cell(row, "Time", localTime(record.time)).title = text(record.time);
    cell(row, "Status", record.status).className = "status-code";
    cell(row, "Key", record.key);
    cell(row, "Error", record.error).className = "error-code";
    cell(row, "Model", record.model).className = "wrap";
    cell(row, "First token (ms)", record.first_token_ms);
    cell(row, "Total (ms)", record.total_ms);
    cell(row, "Finish", record.finish_reason);
    workerCell(row, record);
    cell(row, "Route", record.route).className = "wide route";
    cell(row, "Id", record.id).className = "wide";
    return row;
  }

  async function refreshRequests() {
    const records = (await api("GET", "requests")).requests || [];
    byId("requests").tBodies[0].replaceChildren(...records.map(requestRow));
    byId("requests").hidden = records.length === 0;
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
