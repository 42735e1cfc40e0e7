/*
 * Data Explorer for FiftyOne: the clicked sample, the label box and the
 * keyboard shortcuts of the Python panel.
 *
 * Hand-written, no build step. It registers one custom component,
 * "DataExplorerControls", through the App's plugin registry (window.__fop__);
 * the panel's Python render places it with
 *   types.View(component="DataExplorerControls", card_operator=URI,
 *              dataset=NAME, brain_key=KEY, revision=TOKEN, on_key=...,
 *              on_set_label=..., on_delete_item=..., on_label_selection=...,
 *              keys=[...], hint=..., n_selected=N)
 *
 * Why a component of its own:
 * - the click. The component listens to the map's Plotly clicks in the
 *   browser (the plot has no Python on_click), keeps the clicked sample,
 *   asks the plain operator `card_operator` for its card and draws it.
 *   Going through a panel method would make the App render the whole panel
 *   again, which copies and redraws every point of the map (about a second
 *   at 100,000 points); this way a click redraws the card alone. The card
 *   is asked for again whenever `revision` (the map's data revision)
 *   changes, so a queued or saved edit shows in it. The clicked sample is
 *   kept per dataset and map in the tab's sessionStorage, so a reload keeps
 *   it; answers to an earlier click never replace a later one;
 * - the App gives Python panels no hotkeys. While this component is on
 *   screen it listens for its keys on the document and calls the panel
 *   method `on_key` with {key, label, sample_id} through window.__foo__
 *   .useTriggerPanelEvent. Keys are ignored while the user types (inputs,
 *   text areas, selects, editable elements), with Ctrl/Alt/Meta held, on
 *   auto-repeat, when the panel is hidden and while the App's sample modal
 *   is open;
 * - the label box keeps what is typed here and sends it with each call
 *   ({label}). A panel input would make the App copy the whole panel data
 *   (every plot point) into the panel state, which travels with every
 *   request.
 *
 * window.__fop__, window.__foo__ and window.__mui__ are App internals of
 * fiftyone 1.22.1, which the plugin pins; tests/browser checks them.
 */
(function () {
  "use strict";

  var NAME = "DataExplorerControls";
  var React = window.React;
  var fop = window.__fop__;
  var foo = window.__foo__;
  var mui = window.__mui__ || {};
  var h = React && React.createElement;
  var AXIS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var CHART = { width: 600, height: 200 };

  if (!React || !fop || !foo || !foo.useTriggerPanelEvent || !foo.executeOperator) {
    console.error(NAME + ": the App's plugin globals are missing; no controls");
    return;
  }

  // --- the page around the component ---------------------------------------

  function isTyping(target) {
    if (!target || target === document.body) return false;
    var tag = (target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") return true;
    if (target.isContentEditable) return true;
    var role = target.getAttribute && target.getAttribute("role");
    return role === "textbox" || role === "combobox";
  }

  function isVisible(element) {
    return !!element && element.isConnected && element.getClientRects().length > 0;
  }

  function sampleModalOpen() {
    return isVisible(document.querySelector("[data-cy='modal']"));
  }

  /* The map: the Plotly graph of the panel this component is in. */
  function findMap(element) {
    if (!element || !element.isConnected) return null;
    var panel = element.closest("[data-cy^='panel-content-']");
    return panel ? panel.querySelector(".js-plotly-plot") : null;
  }

  /* The sample id of a Plotly click (the traces carry sample ids). */
  function clickedId(event) {
    var point = event && event.points && event.points[0];
    if (!point) return null;
    var trace = point.fullData || point.data || {};
    var k = point.pointIndex != null ? point.pointIndex : point.pointNumber;
    if (trace.ids && k != null && trace.ids[k] != null) return String(trace.ids[k]);
    return point.id != null ? String(point.id) : null;
  }

  function storageKey(view) {
    return "data-explorer:clicked:" + (view.dataset || "") + ":" + (view.brain_key || "");
  }

  function remembered(view) {
    try {
      return window.sessionStorage.getItem(storageKey(view));
    } catch (error) {
      return null; // storage can be switched off
    }
  }

  function remember(view, sampleId) {
    try {
      if (sampleId) window.sessionStorage.setItem(storageKey(view), sampleId);
      else window.sessionStorage.removeItem(storageKey(view));
    } catch (error) {
      // the click is still kept for this page
    }
  }

  // --- pieces ---------------------------------------------------------------

  function button(label, onClick, name, disabled) {
    var props = {
      onClick: onClick, disabled: !!disabled, "data-action": name,
      style: { marginRight: 8 },
    };
    if (mui.Button) {
      var look = { variant: "contained", size: "small" };
      return h(mui.Button, Object.assign(look, props), label);
    }
    return h("button", props, label);
  }

  function labelBox(value, setValue, placeholder, onEnter) {
    var onChange = function (event) {
      setValue(event.target.value);
    };
    var onKeyDown = function (event) {
      if (event.key === "Enter") onEnter();
    };
    if (mui.TextField) {
      return h(mui.TextField, {
        size: "small",
        fullWidth: true,
        label: "Label",
        value: value,
        placeholder: placeholder,
        onChange: onChange,
        onKeyDown: onKeyDown,
        inputProps: { "aria-label": "Label", "data-testid": "data-explorer-label" },
      });
    }
    return h("input", {
      value: value, placeholder: placeholder, "aria-label": "Label",
      "data-testid": "data-explorer-label", style: { width: "100%" },
      onChange: onChange, onKeyDown: onKeyDown,
    });
  }

  /* A line chart of a sensor recording's axes, as SVG. */
  function sensorChart(sensor) {
    var t = sensor.t || [];
    var series = sensor.series || [];
    var children = [h("div", { key: "caption", style: { margin: "4px 0" } }, sensor.caption)];
    if (!t.length || !series.length) return children;
    var low = Infinity;
    var high = -Infinity;
    series.forEach(function (values) {
      values.forEach(function (v) {
        if (v < low) low = v;
        if (v > high) high = v;
      });
    });
    if (high === low) {
      high += 1;
      low -= 1;
    }
    var t0 = t[0];
    var span = t[t.length - 1] - t0 || 1;
    var sx = CHART.width / span;
    var sy = CHART.height / (high - low);
    var lines = series.map(function (values, j) {
      var points = values.map(function (v, k) {
        return ((t[k] - t0) * sx).toFixed(1) + "," + ((high - v) * sy).toFixed(1);
      });
      return h("polyline", {
        key: j, points: points.join(" "), fill: "none",
        stroke: AXIS_COLORS[j % AXIS_COLORS.length], strokeWidth: 1.2,
        vectorEffect: "non-scaling-stroke", "data-axis": sensor.axes[j],
      });
    });
    children.push(h("svg", {
      key: "chart", viewBox: "0 0 " + CHART.width + " " + CHART.height,
      preserveAspectRatio: "none", role: "img",
      "aria-label": "axes " + sensor.axes.join(", "),
      "data-testid": "data-explorer-sensor", "data-axes": sensor.axes.join(","),
      style: { width: "100%", height: 200, display: "block",
        border: "1px solid rgba(128,128,128,0.4)" },
    }, lines));
    var scale = "values " + low.toPrecision(3) + " to " + high.toPrecision(3) +
      "; time " + t0.toFixed(2) + " to " + (t0 + span).toFixed(2) + " s";
    var legend = sensor.axes.map(function (axis, j) {
      return h("span", { key: axis + j, style: { marginRight: 12 } }, [
        h("span", { key: "swatch", style: { color: AXIS_COLORS[j % AXIS_COLORS.length] } }, "\u25a0 "),
        axis,
      ]);
    });
    children.push(h("div", { key: "legend", style: { fontSize: "0.85em" } },
      legend.concat([h("span", { key: "scale", style: { opacity: 0.7 } }, scale)])));
    return children;
  }

  function sampleCard(card, current, notice) {
    var box = { "data-testid": "data-explorer-sample", style: { margin: "4px 0 10px" } };
    if (!current) {
      return h("div", box, notice ? notice + ". Click another point." :
        "Click a point to see its sample.");
    }
    if (!card || card.id !== current) {
      return h("div", box, "Loading the clicked sample\u2026");
    }
    if (card.error) return h("div", box, card.error);
    var parts = [
      h("div", { key: "title", style: { fontWeight: "bold" } }, card.title),
      h("div", { key: "label" }, card.label),
      h("div", { key: "path", style: { fontSize: "0.85em", opacity: 0.75 } },
        card.filepath),
      h("div", { key: "scores" }, card.scores),
    ];
    if (card.image) {
      parts.push(h("img", {
        key: "image", src: card.image, alt: card.title,
        style: { maxHeight: 220, maxWidth: "100%", marginTop: 6, display: "block" },
      }));
    }
    if (card.note) parts.push(h("div", { key: "note", style: { marginTop: 6 } }, card.note));
    if (card.sensor) parts.push(h("div", { key: "sensor" }, sensorChart(card.sensor)));
    if (card.audio) {
      parts.push(h("audio", {
        key: "audio:" + card.id, src: card.audio, controls: true, preload: "metadata",
        style: { width: "100%", marginTop: 6, display: "block" },
      }));
    }
    return h("div", box, parts);
  }

  // --- the component --------------------------------------------------------

  function Controls(props) {
    var view = (props.schema && props.schema.view) || {};
    var trigger = foo.useTriggerPanelEvent();
    var box = React.useRef(null);
    var labelState = React.useState("");
    var flashState = React.useState("");
    var currentState = React.useState(function () {
      return remembered(view);
    });
    var cardState = React.useState(null);
    var noticeState = React.useState(""); // why the last clicked card went away
    var current = currentState[0];
    var setCurrent = currentState[1];
    var card = cardState[0];
    var setCard = cardState[1];
    var asked = React.useRef(0);
    var latest = React.useRef({});
    latest.current = {
      view: view,
      trigger: trigger,
      label: labelState[0],
      current: current,
      setFlash: flashState[1],
    };

    function call(method, params) {
      var now = latest.current;
      if (!now.view[method]) return;
      var sent = Object.assign({ label: now.label, sample_id: now.current }, params);
      now.trigger(now.view[method], sent);
    }

    function choose(sampleId, notice) {
      remember(latest.current.view, sampleId);
      noticeState[1](notice || "");
      setCurrent(sampleId);
    }

    // another map or dataset: its own clicked sample, if one was kept
    var mapKey = storageKey(view);
    var shownMap = React.useRef(mapKey);
    if (shownMap.current !== mapKey) {
      shownMap.current = mapKey;
      var kept = remembered(view);
      if (kept !== current) setCurrent(kept);
      if (noticeState[0]) noticeState[1]("");
    }

    // the clicked sample's card, again whenever the map's data change
    React.useEffect(function () {
      if (!current || !view.card_operator) return;
      var ticket = ++asked.current;
      foo.executeOperator(view.card_operator, {
        brain_key: view.brain_key, sample_id: current,
      }, {
        skipErrorNotification: true,
        callback: function (answer) {
          if (ticket !== asked.current) return; // a later click was made
          var result = answer && answer.result;
          if (!answer || answer.error || !result) {
            var why = (answer && (answer.errorMessage || answer.error)) || "no answer";
            setCard({ id: current, error: "Cannot show this sample: " + why });
          } else if (result.missing) {
            choose(null, result.title);
          } else {
            setCard(result);
          }
        },
      });
    }, [current, view.revision, view.brain_key, view.card_operator]);

    // the map's clicks
    React.useEffect(function () {
      var bound = null;
      function onClick(event) {
        var sampleId = clickedId(event);
        if (sampleId) choose(sampleId);
      }
      function bind() {
        var map = findMap(box.current);
        if (map === bound || !map || typeof map.on !== "function") return;
        if (bound && bound.removeListener) bound.removeListener("plotly_click", onClick);
        map.on("plotly_click", onClick);
        bound = map;
      }
      bind();
      var timer = window.setInterval(bind, 250); // the App may redraw the plot
      return function () {
        window.clearInterval(timer);
        if (bound && bound.removeListener) bound.removeListener("plotly_click", onClick);
      };
    }, []);

    // the keys
    React.useEffect(function () {
      function onKeyDown(event) {
        var keys = latest.current.view.keys || [];
        if (event.defaultPrevented || event.repeat) return;
        if (event.ctrlKey || event.altKey || event.metaKey) return;
        if (keys.indexOf(event.key) < 0) return;
        if (isTyping(event.target) || !isVisible(box.current)) return;
        if (sampleModalOpen()) return; // the modal's keys are the App's
        event.preventDefault();
        latest.current.setFlash(event.key);
        call("on_key", { key: event.key });
      }
      document.addEventListener("keydown", onKeyDown);
      return function () {
        document.removeEventListener("keydown", onKeyDown);
      };
    }, []);

    var setLabel = function () {
      call("on_set_label", {});
    };
    var children = [
      h(React.Fragment, { key: "card" }, sampleCard(card, current, noticeState[0])),
      h("div", { key: "box", style: { marginBottom: 8 } },
        labelBox(labelState[0], labelState[1], view.placeholder || "", setLabel)),
      h("div", { key: "buttons", style: { marginBottom: 6 } }, [
        h(React.Fragment, { key: "set" },
          button("Set label (l)", setLabel, "set_label")),
        h(React.Fragment, { key: "delete" }, button(
          "Delete item (d)", function () { call("on_delete_item", {}); },
          "delete_item", !current
        )),
        view.n_selected
          ? h(React.Fragment, { key: "selection" }, button(
              "Label selection (" + view.n_selected + ")",
              function () { call("on_label_selection", {}); },
              "label_selection"
            ))
          : null,
      ]),
      h("div", { key: "hint", style: { fontSize: "0.85em", opacity: 0.75 } },
        (view.hint || "") +
          (flashState[0] ? "  (last key: " + flashState[0] + ")" : "")),
    ];
    return h("div", {
      ref: box,
      "data-testid": "data-explorer-controls",
      "data-keys": (view.keys || []).join(""),
      "data-clicked": current || "",
      // long file names and labels wrap instead of widening the panel
      style: { padding: "4px 0", minWidth: 0, maxWidth: "100%", overflowWrap: "anywhere" },
    }, children);
  }

  /*
   * Long unbroken text (a file path, a long label) in the panel's markdown
   * would widen the whole panel, plot included, past its pane: let every
   * text of this panel wrap anywhere.
   */
  function addPanelStyle() {
    if (document.getElementById("data-explorer-style")) return;
    var style = document.createElement("style");
    style.id = "data-explorer-style";
    style.textContent = "[data-cy='panel-content-data_explorer'] * " +
      "{ overflow-wrap: anywhere; }";
    document.head.appendChild(style);
  }

  addPanelStyle();
  try {
    fop.registerComponent({
      name: NAME,
      label: "Data Explorer controls",
      component: Controls,
      type: fop.PluginComponentType.Component,
      activator: function () {
        return true;
      },
    });
  } catch (error) {
    // the script was loaded twice: the first registration stands
    console.warn(NAME + ": " + error.message);
  }
})();
