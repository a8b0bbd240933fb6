/* The dispatcher console: the store's board, drawn on a Leaflet map and in lists, kept current
   by the store's event stream; every action goes through the public API with the signed-in key. */
"use strict";
(function () {
  const STATE_COLOURS = { idle: "#2e9e5b", to_store: "#e08a00", delivering: "#2f6fdb", off_duty: "#9aa1ad" };
  const ROUTE_COLOURS = ["#2f6fdb", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#1098ad", "#5c940d", "#e67700", "#364fc7", "#a61e4d"];
  const state = {
    key: sessionStorage.getItem("dispatch.key"), stores: [], storeId: null, board: null, config: {},
    lastId: 0, selected: null, check: null, streamAbort: null, boardLoads: 0, eventsSeen: 0, fitted: false, live: false,
  };
  window.dispatchConsole = state; // read by the browser tests
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child.nodeType ? child : String(child));
    return node;
  };

  // ---- the API -------------------------------------------------------------------------------
  class ApiError extends Error { constructor(status, message) { super(message); this.status = status; } }

  async function api(path, { method = "GET", body } = {}) {
    const headers = { Authorization: `Bearer ${state.key}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const detail = data && (typeof data.detail === "string" ? data.detail
        : Array.isArray(data.detail) ? data.detail.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ") : res.statusText);
      if (res.status === 401) signOut("The key was refused: " + detail);
      throw new ApiError(res.status, detail || res.statusText);
    }
    return data;
  }

  function toast(message, ms = 3500) {
    const t = $("toast");
    t.textContent = message; t.hidden = false;
    clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, ms);
  }

  const hhmm = (iso) => iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "–";
  const minutes = (s) => s === null || s === undefined ? "–" : `${s < 0 ? "−" : ""}${Math.floor(Math.abs(s) / 60)}:${String(Math.abs(s) % 60).padStart(2, "0")}`;
  const age = (s) => s < 90 ? `${s} s` : `${Math.round(s / 60)} min`;
  const slackClass = (s) => s === null || s === undefined ? "" : s < 0 ? "slack-bad" : s < (state.config.at_risk_slack_s || 300) ? "slack-warn" : "";

  // ---- sign in -------------------------------------------------------------------------------
  function signOut(message) {
    state.key = null; sessionStorage.removeItem("dispatch.key");
    stopStream();
    $("signin").hidden = false; $("signout").hidden = true; $("who").textContent = "";
    $("signin-error").textContent = message || "";
    $("store").disabled = true; $("dispatch").disabled = true;
  }

  async function signIn(key) {
    state.key = key;
    try {
      state.stores = await api("/v1/stores?limit=1000");
    } catch (err) {
      state.key = null;
      $("signin-error").textContent = err.status === 403 ? "This key's role may not use the console: it needs order_system or admin." : err.message;
      return false;
    }
    sessionStorage.setItem("dispatch.key", key);
    $("signin").hidden = true; $("signout").hidden = false; $("who").textContent = "signed in";
    const select = $("store");
    select.replaceChildren(...state.stores.map((s) => el("option", { value: s.store.id }, s.store.id)));
    select.disabled = state.stores.length === 0;
    const wanted = new URLSearchParams(location.search).get("store");
    const first = state.stores.find((s) => s.store.id === wanted) || state.stores[0];
    if (first) { select.value = first.store.id; openStore(first.store.id); }
    else toast("No store is registered yet.");
    return true;
  }

  // ---- the map -------------------------------------------------------------------------------
  const map = L.map("map", { zoomControl: true, attributionControl: false, preferCanvas: false });
  map.setView([0, 0], 2);
  L.control.scale({ imperial: false, maxWidth: 160 }).addTo(map);
  const layers = { grid: L.layerGroup().addTo(map), cells: L.layerGroup().addTo(map), area: L.layerGroup().addTo(map), routes: L.layerGroup().addTo(map), marks: L.layerGroup().addTo(map) };

  function drawGrid() {
    // Without a basemap a metric grid gives the map its scale: lines every 250 m to 5 km.
    layers.grid.clearLayers();
    if (!state.board) return;
    const b = map.getBounds(), lat0 = map.getCenter().lat;
    const widthM = map.distance(b.getSouthWest(), b.getSouthEast());
    const step = [250, 500, 1000, 2000, 5000, 10000].find((m) => widthM / m <= 14) || 20000;
    const dLat = step / 111195, dLon = step / (111195 * Math.cos(lat0 * Math.PI / 180));
    const style = { color: "#c5ccd8", weight: 1, interactive: false };
    for (let lat = Math.floor(b.getSouth() / dLat) * dLat; lat <= b.getNorth(); lat += dLat) layers.grid.addLayer(L.polyline([[lat, b.getWest()], [lat, b.getEast()]], style));
    for (let lon = Math.floor(b.getWest() / dLon) * dLon; lon <= b.getEast(); lon += dLon) layers.grid.addLayer(L.polyline([[b.getSouth(), lon], [b.getNorth(), lon]], style));
    layers.grid.addLayer(L.marker([b.getSouth(), b.getWest()], { interactive: false, icon: L.divIcon({ className: "map-grid-label", html: `grid ${step >= 1000 ? step / 1000 + " km" : step + " m"}`, iconAnchor: [-6, 18] }) }));
  }
  map.on("moveend", drawGrid);

  // The delivery grid: the store's orders of the last 7 days per H3 cell (GET .../grid), each
  // cell coloured from red (no order on time) to green (all on time).
  function rateColour(rate) {
    if (rate === null || rate === undefined) return "#9aa1ad";
    const hue = Math.round(120 * Math.max(0, Math.min(1, rate)));
    return `hsl(${hue}, 70%, 45%)`;
  }

  async function drawCells() {
    layers.cells.clearLayers();
    state.cells = 0;
    if (!$("cells").checked || !state.storeId) return;
    const id = state.storeId;
    const grid = await api(storePath("/grid?days=7"));
    if (id !== state.storeId || !$("cells").checked) return;
    const cells = grid.features.filter((f) => f.properties.kind === "cell");
    layers.cells.addLayer(L.geoJSON({ type: "FeatureCollection", features: cells }, {
      style: (f) => ({ color: "#ffffff", weight: 1, fillColor: rateColour(f.properties.on_time_rate), fillOpacity: 0.45, className: "grid-cell" }),
      onEachFeature: (f, layer) => {
        const p = f.properties;
        const rate = p.on_time_rate === null ? "–" : `${Math.round(p.on_time_rate * 100)}%`;
        const ctd = p.click_to_door_mean_min === null ? "–" : `${p.click_to_door_mean_min} min`;
        layer.bindTooltip(`${p.orders} orders · ${rate} on time · click-to-door ${ctd}${p.third_party_share ? ` · ${Math.round(p.third_party_share * 100)}% third party` : ""}`);
      },
    }));
    state.cells = cells.length;
  }

  map.on("click", async (e) => {
    if (!state.storeId || !state.key) return;
    const at = e.latlng;
    const popup = L.popup().setLatLng(at).setContent("Quoting…").openOn(map);
    try {
      const q = await api(`/v1/stores/${encodeURIComponent(state.storeId)}/quote`, { method: "POST", body: { dropoff: { lat: at.lat, lon: at.lng } } });
      popup.setContent(q.feasible
        ? `<b data-testid="quote">Quote: promise ${hhmm(q.promise_at)}</b><br>ETA ${hhmm(q.eta)} by ${q.rider_id}<br><span class="muted">${q.quote_ms} ms</span>`
        : `<b data-testid="quote">No promise possible</b><br>${q.reason}: ${q.detail || ""}`);
    } catch (err) { popup.setContent(`Quote failed: ${err.message}`); }
  });

  function riderColours(board) {
    const colours = {};
    board.riders.forEach((r, i) => { colours[r.id] = ROUTE_COLOURS[i % ROUTE_COLOURS.length]; });
    return colours;
  }

  function drawMap(board) {
    const store = board.store, here = [store.location.lat, store.location.lon];
    layers.area.clearLayers(); layers.routes.clearLayers(); layers.marks.clearLayers();
    const area = store.geofence
      ? L.geoJSON(store.geofence, { style: { color: "#1d2330", weight: 1.5, fillOpacity: 0.04, dashArray: "6 4" }, interactive: false })
      : L.circle(here, { radius: store.service_radius_m || 3000, color: "#1d2330", weight: 1.5, fillOpacity: 0.04, dashArray: "6 4", interactive: false });
    layers.area.addLayer(area);
    layers.marks.addLayer(L.marker(here, { icon: L.divIcon({ className: "store-mark", html: "S", iconSize: [22, 22] }), title: `store ${store.id}` }).bindTooltip(`Store ${store.id}`));
    const colours = riderColours(board);
    const riderAt = Object.fromEntries(board.riders.map((r) => [r.id, [r.location.lat, r.location.lon]]));
    for (const route of board.routes) {
      const colour = colours[route.rider_id];
      const path = [riderAt[route.rider_id], ...route.stops.map((s) => [s.location.lat, s.location.lon])];
      layers.routes.addLayer(L.polyline(path, { color: colour, weight: 3, opacity: 0.85, className: `route route-${route.rider_id}` }));
      for (const stop of route.stops) {
        const label = stop.kind === "pickup" ? `${stop.sequence}. pickup ${stop.order_ids.join(", ")}` : `${stop.sequence}. drop-off ${stop.order_id}`;
        const marker = L.marker([stop.location.lat, stop.location.lon], {
          icon: L.divIcon({ className: "stop-num", html: String(stop.sequence), iconSize: [22, 22] }),
          title: label, zIndexOffset: stop.kind === "pickup" ? -100 : 0,
        }).bindTooltip(`${route.rider_id} · ${label}<br>ETA ${hhmm(stop.arrive_at)}${stop.slack_s !== null && stop.slack_s !== undefined ? ` · slack ${minutes(stop.slack_s)}` : ""}`);
        marker.on("add", () => { marker.getElement().style.borderColor = colour; });
        if (stop.kind === "dropoff") marker.on("click", (e) => { L.DomEvent.stopPropagation(e); select(stop.order_id); });
        layers.marks.addLayer(marker);
      }
    }
    const onRoute = new Set(board.routes.flatMap((r) => r.stops.filter((s) => s.kind === "dropoff").map((s) => s.order_id)));
    const why = Object.fromEntries(board.unassigned.map((u) => [u.order_id, u]));
    for (const order of board.orders) {
      if (onRoute.has(order.id)) continue;
      const unassigned = why[order.id];
      const mark = L.circleMarker([order.dropoff.lat, order.dropoff.lon], {
        radius: 7, color: unassigned ? "#d93a3a" : "#6b7385", weight: 2, fillOpacity: unassigned ? 0.15 : 0.5, className: unassigned ? "unassigned-mark" : "order-mark",
      }).bindTooltip(unassigned ? `${order.id} unassigned: ${unassigned.reason}` : `${order.id} (${order.status}${order.rider_id ? ", " + order.rider_id : ""})`);
      mark.on("click", (e) => { L.DomEvent.stopPropagation(e); select(order.id); });
      layers.marks.addLayer(mark);
    }
    for (const rider of board.riders) {
      const mark = L.circleMarker([rider.location.lat, rider.location.lon], {
        radius: 9, color: rider.stale ? "#111" : "#fff", weight: rider.stale ? 2 : 2.5, dashArray: rider.stale ? "3 3" : null,
        fillColor: STATE_COLOURS[rider.state] || "#777", fillOpacity: rider.stale ? 0.45 : 0.95, className: `rider rider-${rider.state}`,
      }).bindTooltip(`${rider.id}: ${rider.state.replace("_", " ")}${rider.stale ? ` · position ${age(rider.position_age_s)} old` : ""}${rider.carrying.length ? " · carrying " + rider.carrying.join(", ") : ""}`);
      layers.marks.addLayer(mark);
    }
    if (!state.fitted) {
      map.invalidateSize();
      map.fitBounds(area.getBounds(), { padding: [12, 12] });
      state.fitted = true;
    }
    drawGrid();
  }

  // ---- lists, KPIs, timeline -----------------------------------------------------------------
  function drawKpis(k) {
    const items = [
      ["open", k.open, "open orders"], ["late", k.late, "late (day)", k.late > 0],
      ["on_time", k.on_time_rate === null ? "–" : `${Math.round(k.on_time_rate * 100)}%`, "on time"],
      ["mean", k.click_to_door_mean_min === null ? "–" : `${k.click_to_door_mean_min} min`, "click-to-door mean"],
      ["p90", k.click_to_door_p90_min === null ? "–" : `${k.click_to_door_p90_min} min`, "click-to-door p90"],
      ["busy", `${k.riders_busy}/${k.riders_on_duty}`, "riders busy"],
    ];
    $("kpis").replaceChildren(...items.map(([id, value, label, bad]) => el("div", { class: `kpi${bad ? " bad" : ""}`, "data-kpi": id }, el("b", {}, value), el("span", {}, label))));
  }

  function drawLists(board) {
    $("at-risk").replaceChildren(...(board.at_risk.length ? board.at_risk.map((o) => el("li", { class: "clickable", "data-order": o.order_id, onclick: () => select(o.order_id) },
      el("b", {}, o.order_id), " ", o.reason ? el("span", { class: "slack-bad" }, `unassigned: ${o.reason}`)
        : el("span", { class: slackClass(o.slack_s) }, `slack ${minutes(o.slack_s)}`), o.rider_id ? ` · ${o.rider_id} · ETA ${hhmm(o.eta)}` : ""))
      : [el("li", { class: "muted" }, "Nothing at risk.")]));
    $("unassigned").replaceChildren(...(board.unassigned.length ? board.unassigned.map((u) => el("li", { class: "clickable", "data-order": u.order_id, onclick: () => select(u.order_id) },
      el("b", {}, u.order_id), ` ${u.reason}`, el("div", { class: "muted" }, u.detail || "")))
      : [el("li", { class: "muted" }, "Every open order is planned.")]));
    $("riders").replaceChildren(...board.riders.map((r) => el("li", { "data-rider": r.id, "data-state": r.state },
      el("span", { class: `dot${r.stale ? " stale" : ""}`, style: `background:${STATE_COLOURS[r.state]}` }), el("b", {}, r.id), ` ${r.state.replace("_", " ")}`,
      r.stale ? el("span", { class: "slack-warn" }, ` · stale (${age(r.position_age_s)})`) : "",
      r.carrying.length ? ` · carrying ${r.carrying.length}` : "")));
  }

  function drawTimeline(board) {
    const box = $("timeline");
    const now = Date.parse(board.now);
    const segs = board.routes.flatMap((r) => r.timeline);
    if (!segs.length) { box.replaceChildren(el("p", { class: "muted" }, "No rider has stops to do.")); return; }
    let t0 = Math.min(now, ...segs.map((s) => Date.parse(s.start_at)));
    let t1 = Math.max(now, ...segs.map((s) => Date.parse(s.end_at)));
    t1 = Math.max(t1, t0 + 10 * 60000);
    const pct = (t) => `${((t - t0) / (t1 - t0)) * 100}%`;
    const rows = board.routes.map((r) => el("div", { class: "tl-row", "data-rider": r.rider_id }, el("b", {}, r.rider_id),
      el("div", { class: "tl-track" }, ...r.timeline.map((s) => el("div", {
        class: `tl-seg seg ${s.kind}`, title: `${s.kind} · stop ${s.stop} · ${hhmm(s.start_at)}–${hhmm(s.end_at)}`,
        style: `left:${pct(Date.parse(s.start_at))};width:calc(${pct(Date.parse(s.end_at))} - ${pct(Date.parse(s.start_at))})`,
      })))));
    const ticks = [];
    const stepMs = (t1 - t0) > 3 * 3600000 ? 3600000 : (t1 - t0) > 90 * 60000 ? 30 * 60000 : 10 * 60000;
    for (let t = Math.ceil(t0 / stepMs) * stepMs; t <= t1; t += stepMs) ticks.push(el("span", { style: `left:${pct(t)}` }, hhmm(new Date(t).toISOString())));
    const nowLine = el("div", { class: "tl-now", "data-testid": "now-line", title: `now ${hhmm(board.now)}`, style: `left:calc(70px + (100% - 70px) * ${(now - t0) / (t1 - t0)})` });
    box.replaceChildren(el("div", { class: "tl-axis" }, ...ticks), ...rows, nowLine);
  }

  // ---- the selected order and its actions ----------------------------------------------------
  function select(orderId) { state.selected = orderId; state.check = null; drawSelection(); }

  function drawSelection() {
    const box = $("selection");
    const board = state.board;
    const order = board && board.orders.find((o) => o.id === state.selected);
    if (!order) { box.className = "muted"; box.replaceChildren("Click an order on the map or in a list."); return; }
    box.className = "";
    const riders = board.riders.filter((r) => r.on_duty && r.id !== order.rider_id);
    const choose = el("select", { id: "move-rider", "data-testid": "move-rider" }, ...riders.map((r) => el("option", { value: r.id }, `${r.id} (${r.state.replace("_", " ")})`)));
    const open = order.status === "open";
    const parts = [
      el("div", {}, el("b", { "data-testid": "selected-order" }, order.id), ` · ${order.status.replace("_", " ")}`, order.rider_id ? ` · ${order.rider_id}` : " · unassigned",
        order.pinned_rider_id ? ` · pinned to ${order.pinned_rider_id}` : ""),
      el("div", { class: "muted" }, `promised ${hhmm(order.promised_at)} · ETA ${hhmm(order.eta)} · slack `, el("span", { class: slackClass(order.slack_s) }, minutes(order.slack_s))),
    ];
    if (open && riders.length) {
      parts.push(el("div", { class: "actions" }, "to", choose,
        el("button", { "data-testid": "check-move", onclick: checkMove }, "Check move"),
        el("button", { class: "ghost", "data-testid": "pin", onclick: pin }, "Pin")));
    }
    if (order.pinned_rider_id) parts.push(el("div", { class: "actions" }, el("button", { class: "ghost", onclick: unpin }, "Unpin")));
    if (order.status === "open" || order.status === "picked_up") {
      parts.push(el("div", { class: "actions" }, el("button", { class: "danger", "data-testid": "cancel-order", onclick: cancelOrder }, "Cancel order")));
    }
    if (state.check) {
      const c = state.check;
      parts.push(el("div", { class: `verdict ${c.valid ? "ok" : "no"}`, "data-testid": "verdict" },
        el("b", {}, c.valid ? `Valid: ${c.order_id} on ${c.rider_id}` : `Not possible: ${c.reason || "the validator found violations"}`),
        el("div", {}, `ETA ${hhmm(c.eta)} · slack `, el("span", { class: slackClass(c.slack_s) }, minutes(c.slack_s))),
        el("div", { class: "muted" }, `late orders ${c.before.late ?? "–"} → ${c.after.late} · distance ${Math.round(c.before.total_distance_m ?? 0)} → ${Math.round(c.after.total_distance_m)} m`),
        ...c.violations.map((v) => el("div", { class: "slack-bad" }, `${v.cause}: ${v.detail}`)),
        c.valid ? el("div", { class: "actions" }, el("button", { "data-testid": "apply-move", onclick: applyMove }, "Apply move")) : null));
    }
    box.replaceChildren(...parts);
  }

  const storePath = (tail) => `/v1/stores/${encodeURIComponent(state.storeId)}${tail}`;

  async function act(label, work) {
    try { const out = await work(); await loadBoard(); return out; }
    catch (err) { toast(`${label} failed: ${err.message}`); return null; }
  }

  async function checkMove() {
    const rider = $("move-rider").value, order = state.selected;
    state.check = null;
    const verdict = await act("Check", () => api(storePath("/moves/check"), { method: "POST", body: { order_id: order, rider_id: rider } }));
    if (verdict && state.selected === order) { state.check = verdict; drawSelection(); }
  }

  async function applyMove() {
    const check = state.check;
    const plan = await act("Move", () => api(storePath("/moves"), { method: "POST", body: { plan_id: check.plan_id } }));
    if (plan) { state.check = null; toast(`${check.order_id} moved to ${check.rider_id}`); drawSelection(); }
  }

  async function pin() {
    const rider = $("move-rider").value, order = state.selected;
    const done = await act("Pin", async () => {
      await api(`/v1/orders/${encodeURIComponent(order)}/pin`, { method: "PUT", body: { rider_id: rider } });
      return api(storePath("/dispatch"), { method: "POST", body: {} });
    });
    if (done) toast(`${order} pinned to ${rider} and the store re-planned`);
  }

  async function unpin() {
    const order = state.selected;
    await act("Unpin", () => api(`/v1/orders/${encodeURIComponent(order)}/pin`, { method: "DELETE" }));
  }

  async function cancelOrder() {
    const order = state.selected;
    if (!window.confirm(`Cancel order ${order}?`)) return;
    const done = await act("Cancel", () => api(`/v1/orders/${encodeURIComponent(order)}/events`, { method: "POST", body: { type: "cancelled" } }));
    if (done) toast(`${order} cancelled`);
  }

  async function dispatchNow() {
    $("dispatch").disabled = true;
    const plan = await act("Dispatch", () => api(storePath("/dispatch"), { method: "POST", body: {} }));
    $("dispatch").disabled = false;
    if (plan) toast(`New plan: ${plan.metrics.assigned} of ${plan.metrics.orders} orders assigned, ${plan.metrics.late} late`);
  }

  // ---- the board and the live stream ---------------------------------------------------------
  async function loadBoard() {
    if (!state.storeId) return;
    const id = state.storeId;
    const board = await api(storePath("/board"));
    if (id !== state.storeId) return;
    state.board = board; state.boardLoads += 1;
    drawKpis(board.kpis); drawMap(board); drawLists(board); drawTimeline(board); drawSelection();
    return board;
  }

  let refreshTimer = null;
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => loadBoard().catch((err) => toast(`Refresh failed: ${err.message}`)), 150);
  }

  function setLive(on) {
    state.live = on;
    const badge = $("live");
    badge.textContent = on ? "live" : "reconnecting…"; badge.className = `live ${on ? "on" : "off"}`;
  }

  function onEvent(evt) {
    state.lastId = Math.max(state.lastId, evt.id); state.eventsSeen += 1;
    const list = $("events");
    const what = evt.order_id ? ` ${evt.order_id}` : evt.rider_id ? ` ${evt.rider_id}` : evt.body.plan_id ? ` ${evt.body.plan_id.slice(0, 8)}` : "";
    list.prepend(el("li", { "data-type": evt.type }, `${hhmm(evt.at)} ${evt.type}${what}`));
    while (list.children.length > 30) list.lastChild.remove();
    scheduleRefresh();
  }

  function stopStream() { if (state.streamAbort) { state.streamAbort.abort(); state.streamAbort = null; } }

  async function stream(storeId) {
    // EventSource cannot send the key, so the stream is read with fetch; it reconnects with
    // Last-Event-ID, missing nothing.
    const abort = new AbortController(); state.streamAbort = abort;
    while (!abort.signal.aborted && state.storeId === storeId && state.key) {
      try {
        const headers = { Authorization: `Bearer ${state.key}`, Accept: "text/event-stream" };
        if (state.lastId) headers["Last-Event-ID"] = String(state.lastId);
        const res = await fetch(storePath("/events"), { headers, signal: abort.signal });
        if (res.status === 401) { signOut("The key was refused."); return; }
        if (!res.ok) throw new Error(`stream answered ${res.status}`);
        setLive(true);
        const reader = res.body.getReader(), decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
            const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
            if (data) onEvent(JSON.parse(data));
          }
        }
      } catch (err) {
        if (abort.signal.aborted) return;
      }
      setLive(false);
      await new Promise((r) => setTimeout(r, 2000));
      scheduleRefresh();
    }
  }

  async function openStore(storeId) {
    stopStream();
    state.storeId = storeId; state.board = null; state.selected = null; state.check = null; state.fitted = false;
    $("events").replaceChildren();
    $("dispatch").disabled = false;
    history.replaceState(null, "", `?store=${encodeURIComponent(storeId)}`);
    try {
      const board = await loadBoard();
      state.lastId = board.last_event_id;
      drawCells().catch((err) => toast(`Delivery grid: ${err.message}`));
      stream(storeId);
    } catch (err) { toast(`Could not load store ${storeId}: ${err.message}`); }
  }

  // ---- start ---------------------------------------------------------------------------------
  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const ok = await signIn($("key").value.trim());
    if (ok) $("key").value = "";
  });
  $("signout").addEventListener("click", () => signOut(""));
  $("store").addEventListener("change", (e) => openStore(e.target.value));
  $("dispatch").addEventListener("click", dispatchNow);
  $("cells").addEventListener("change", () => drawCells().catch((err) => toast(`Delivery grid: ${err.message}`)));
  setInterval(() => { if (state.board && state.live) scheduleRefresh(); }, 30000); // ETAs and stale marks age

  fetch("/console/config.json").then((r) => r.json()).then((config) => {
    state.config = config;
    if (config.tiles_url) {
      L.tileLayer(config.tiles_url, { maxZoom: 19, attribution: config.tiles_attribution || "" }).addTo(map);
      map.attributionControl ? map.attributionControl.addTo(map) : L.control.attribution().addTo(map);
    }
  }).finally(() => {
    if (state.key) signIn(state.key); else signOut("");
  });
})();
