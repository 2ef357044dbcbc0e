// The MCP Companion window. The server list, details and add-server wizard arrive with the
// window issue; until then the tray menu is the whole interface.
const root = document.querySelector<HTMLElement>("#app");
if (root) {
  const h1 = document.createElement("h1");
  h1.textContent = "MCP Companion";
  const p = document.createElement("p");
  p.textContent = "Your servers are in the tray menu.";
  root.append(h1, p);
}
