#!/usr/bin/python3
"""Reads and clicks a tray icon's menu over D-Bus, the way a desktop's tray host would.

The tray app publishes a StatusNotifierItem and its com.canonical.dbusmenu menu on the session
bus even when no tray host is running, so a test can find the item by the app's process id,
read the menu's labels and send it a click.

    sni.py menu  PID [--timeout S]          print {"service", "path", "labels"} as JSON
    sni.py click PID LABEL [--timeout S]    click the entry labelled LABEL

Needs Debian's python3-dbus (run with /usr/bin/python3).
"""
import argparse
import json
import sys
import time
import xml.etree.ElementTree as ET

import dbus

ITEM_ROOTS = ("/org/ayatana/NotificationItem", "/StatusNotifierItem")


def find_item(bus, pid):
    daemon = dbus.Interface(bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus"),
                            "org.freedesktop.DBus")
    # The GTK connection that serves the item registers first; try connections in order.
    names = sorted((n for n in daemon.ListNames() if n.startswith(":")),
                   key=lambda n: [int(p) for p in n[1:].split(".") if p.isdigit()])
    for name in names:
        try:
            if int(daemon.GetConnectionUnixProcessID(name)) != pid:
                continue
        except dbus.DBusException:
            continue
        for root in ITEM_ROOTS:
            for path in item_paths(bus, name, root):
                try:
                    props = dbus.Interface(bus.get_object(name, path, introspect=False), dbus.PROPERTIES_IFACE)
                    menu = props.Get("org.kde.StatusNotifierItem", "Menu", timeout=0.5)
                    return name, str(menu)
                except dbus.DBusException:
                    continue
    return None


def item_paths(bus, name, root):
    try:
        # Short timeout: a process has several connections (zbus ones for the keychain and
        # single-instance); those do not serve objects and may never answer.
        xml = dbus.Interface(bus.get_object(name, root, introspect=False),
                             "org.freedesktop.DBus.Introspectable").Introspect(timeout=0.5)
    except dbus.DBusException:
        return []
    nodes = [n.get("name") for n in ET.fromstring(xml).findall("node")]
    return [root] + [f"{root}/{n}" for n in nodes if n]


def entries(bus, service, menu_path):
    menu = dbus.Interface(bus.get_object(service, menu_path, introspect=False), "com.canonical.dbusmenu")
    _revision, layout = menu.GetLayout(0, -1, dbus.Array([], signature="s"))
    out = []

    def walk(node):
        node_id, props, children = node
        if node_id != 0 and props.get("type", "") != "separator":
            label = str(props.get("label", "")).replace("__", "\0").replace("_", "").replace("\0", "_")
            out.append((int(node_id), label, bool(props.get("enabled", True))))
        for child in children:
            walk(child)

    walk(layout)
    return menu, out


def wait_for_item(bus, pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find_item(bus, pid)
        if found:
            return found
        time.sleep(0.2)
    sys.exit(f"no tray item from process {pid} appeared on the session bus within {timeout} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["menu", "click"])
    ap.add_argument("pid", type=int)
    ap.add_argument("label", nargs="?")
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    bus = dbus.SessionBus()
    service, menu_path = wait_for_item(bus, a.pid, a.timeout)
    menu, items = entries(bus, service, menu_path)
    if a.action == "menu":
        print(json.dumps({"service": service, "path": menu_path,
                          "labels": [label for _, label, _ in items],
                          "enabled": [enabled for _, _, enabled in items]}))
        return
    ids = [i for i, label, _ in items if label == a.label]
    if not ids:
        sys.exit(f"no menu entry labelled {a.label!r}; the menu has {[l for _, l, _ in items]}")
    menu.Event(ids[0], "clicked", dbus.Int32(0, variant_level=1), dbus.UInt32(int(time.time())))
    print(json.dumps({"clicked": a.label}))


if __name__ == "__main__":
    main()
