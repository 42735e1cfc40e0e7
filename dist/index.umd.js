/*
 * Data Explorer for FiftyOne: the label box and the keyboard shortcuts of the
 * Python panel.
 *
 * Hand-written, no build step. It registers one custom component,
 * "DataExplorerControls", through the App's plugin registry (window.__fop__);
 * the panel's Python render places it with
 *   types.View(component="DataExplorerControls", on_key=..., on_set_label=...,
 *              on_label_selection=..., keys=[...], hint=..., n_selected=N)
 *
 * Why a component of its own:
 * - the App gives Python panels no hotkeys. While this component is on
 *   screen it listens for its keys on the document and calls the panel
 *   method `on_key` with {key, label} through window.__foo__
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

  if (!React || !fop || !foo || !foo.useTriggerPanelEvent) {
    console.error(NAME + ": the App's plugin globals are missing; no controls");
    return;
  }

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

  function button(label, onClick, name) {
    var props = { onClick: onClick, "data-action": name, style: { marginRight: 8 } };
    if (mui.Button) {
      var look = { variant: "contained", size: "small" };
      return h(mui.Button, Object.assign(look, props), label);
    }
    return h("button", props, label);
  }

  function labelBox(value, setValue, placeholder, onEnter) {
    var props = {
      value: value,
      placeholder: placeholder,
      "aria-label": "Label",
      onChange: function (event) {
        setValue(event.target.value);
      },
      onKeyDown: function (event) {
        if (event.key === "Enter") onEnter();
      },
    };
    if (mui.TextField) {
      return h(mui.TextField, {
        size: "small",
        fullWidth: true,
        label: "Label",
        value: value,
        placeholder: placeholder,
        onChange: props.onChange,
        onKeyDown: props.onKeyDown,
        inputProps: { "aria-label": "Label", "data-testid": "data-explorer-label" },
      });
    }
    props["data-testid"] = "data-explorer-label";
    props.style = { width: "100%" };
    return h("input", props);
  }

  function Controls(props) {
    var view = (props.schema && props.schema.view) || {};
    var trigger = foo.useTriggerPanelEvent();
    var box = React.useRef(null);
    var labelState = React.useState("");
    var flashState = React.useState("");
    var latest = React.useRef({});
    latest.current = {
      view: view,
      trigger: trigger,
      label: labelState[0],
      setFlash: flashState[1],
    };

    function call(method, params) {
      var current = latest.current;
      if (!current.view[method]) return;
      var withLabel = Object.assign({ label: current.label }, params);
      current.trigger(current.view[method], withLabel);
    }

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
      h("div", { key: "box", style: { marginBottom: 8 } },
        labelBox(labelState[0], labelState[1], view.placeholder || "", setLabel)),
      h("div", { key: "buttons", style: { marginBottom: 6 } }, [
        h(React.Fragment, { key: "set" },
          button("Set label (l)", setLabel, "set_label")),
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
      style: { padding: "4px 0" },
    }, children);
  }

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
