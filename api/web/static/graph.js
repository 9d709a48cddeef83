// Drawing networks with Cytoscape.js (vendored; fcose layout). Shapes by node type, confirmed fraud
// in red, hubs drawn as a counted node; a click on a node asks onExpand for its neighbours.

import { term } from "./i18n.js";

const SHAPES = {
  Application: "round-rectangle", Person: "ellipse", Phone: "diamond", Device: "hexagon",
  BankAccount: "rectangle", Address: "triangle", Employer: "barrel", Dealer: "star", Vehicle: "pentagon",
  Document: "tag", Ring: "octagon", Contact: "vee", IP: "rhomboid",
};
const COLOURS = {
  Application: "#4a6fa5", Person: "#6c8ebf", Phone: "#8e7cc3", Device: "#76a5af", BankAccount: "#b4a7d6",
  Address: "#93c47d", Employer: "#c9a227", Dealer: "#e69138", Vehicle: "#a2c4c9", Document: "#999999",
  Ring: "#cc4125", Contact: "#b7b7b7", IP: "#d5a6bd",
};
let registered = false;

function register() {
  if (registered) return;
  if (window.cytoscapeFcose) window.cytoscape.use(window.cytoscapeFcose);
  registered = true;
}

export function elementsOf(nodes, edges) {
  const out = [];
  for (const n of nodes) {
    const label = n.hub ? `${n.label} (${n.count ?? "…"})` : n.label;
    out.push({ group: "nodes", data: { id: n.id, label, type: n.type, band: n.band || "" },
      classes: [n.confirmed_fraud ? "fraud" : "", n.hub ? "hub" : "", n.band ? `band-${n.band}` : ""].join(" ").trim() });
  }
  for (const e of edges) {
    out.push({ group: "edges", data: { id: `${e.source}|${e.type}|${e.target}`, source: e.source, target: e.target,
      type: e.type } });
  }
  return out;
}

export function legend(types) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const type of types) {
    const item = document.createElement("span");
    item.className = "legend-item";
    const dot = document.createElement("span");
    dot.className = `legend-dot type-${type}`;
    item.append(dot, document.createTextNode(term(type)));
    box.append(item);
  }
  return box;
}

// an application within two steps of a drawn node: the service finds the node around it (its id is a hash)
function nearestApplication(node) {
  if (node.data("type") === "Application") return null;
  let found = null;
  node.cy().elements().bfs({ roots: node, visit: (v, e, u, i, depth) => {
    if (depth > 2) return false;
    if (v.data("type") === "Application") { found = v; return true; }
    return undefined;
  } });
  return found ? found.id().replace(/^app:/, "") : null;
}

export function draw(container, nodes, edges, { onExpand } = {}) {
  register();
  const styles = [
    { selector: "node", style: {
      label: "data(label)", "font-size": 9, "text-valign": "bottom", "text-margin-y": 3, width: 22, height: 22,
      "background-color": "#777", color: "#222", "text-wrap": "ellipsis", "text-max-width": 110 } },
    ...Object.entries(SHAPES).map(([type, shape]) => ({ selector: `node[type = "${type}"]`,
      style: { shape, "background-color": COLOURS[type] } })),
    { selector: "node.hub", style: { width: 30, height: 30, "border-width": 2, "border-style": "dashed",
      "border-color": "#555" } },
    { selector: "node.fraud", style: { "background-color": "#d62728", "border-width": 3, "border-color": "#7f0000" } },
    { selector: "node.band-reject", style: { "border-width": 2, "border-color": "#d62728" } },
    { selector: "node.band-review", style: { "border-width": 2, "border-color": "#e69138" } },
    { selector: "node:selected", style: { "overlay-opacity": 0.2, "overlay-color": "#1f77b4" } },
    { selector: "edge", style: { width: 1, "line-color": "#bbb", "curve-style": "bezier" } },
  ];
  const cy = window.cytoscape({
    container, elements: elementsOf(nodes, edges), style: styles,
    layout: { name: window.cytoscapeFcose ? "fcose" : "cose", animate: false, randomize: true, nodeRepulsion: 6000 },
  });
  if (onExpand) {
    cy.on("tap", "node", async (event) => {
      const node = event.target;
      if (node.data("expanded")) return;
      node.data("expanded", true);
      const more = await onExpand(node.id(), nearestApplication(node));
      if (!more) return;
      const fresh = elementsOf(more.nodes, more.edges).filter((el) => cy.getElementById(el.data.id).empty());
      if (!fresh.length) return;
      cy.add(fresh);
      cy.layout({ name: window.cytoscapeFcose ? "fcose" : "cose", animate: false, randomize: false,
        quality: "default" }).run();
    });
  }
  container.cy = cy; // for the browser test: count nodes through Cytoscape's API
  return cy;
}
