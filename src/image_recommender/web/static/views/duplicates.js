// The duplicates view: groups with their keeper, moving the others out, and undoing it.
import { $, api, button, setMessage } from "./core.js";
import { card } from "./search.js";

export const GROUP_TITLES = {
  exact: () => t("group.exact"),
  near: (group) => t("group.near", { score: (Math.floor(group.score * 1000) / 1000).toFixed(3) }),
  burst: () => t("group.burst"),
};

export function megabytes(bytes) {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}

// Nothing moves on the first click: the dialog lists what would move where, as the CLI's dry run does.
export function confirmMove(leaving, folder) {
  const dialog = $("#confirm-move");
  const bytes = leaving.reduce((total, image) => total + (image.size || 0), 0);
  $("#confirm-move-title").textContent = t("confirm.move", { n: leaving.length, size: megabytes(bytes), folder });
  $("#confirm-move-list").replaceChildren(...leaving.map((image) => {
    const item = document.createElement("li");
    item.textContent = `${image.path} (${megabytes(image.size || 0)})`;
    return item;
  }));
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "move"), { once: true }));
}

export function duplicateGroup(group, number, threshold, folder) {
  const box = document.createElement("div");
  box.className = "group";
  const title = document.createElement("h3");
  title.textContent = t("group", { n: number + 1, title: GROUP_TITLES[group.kind](group) });
  const list = document.createElement("ol");
  list.className = "grid";
  let keeper = group.keeper.id;
  const draw = () => {
    list.replaceChildren(
      ...group.images.map((image) => {
        const item = card(image, { refine: false, keeper: image.id === keeper });
        if (group.kind !== "burst" && image.id !== keeper) {
          const keep = button(t("keep.this"), "keep", () => {
            keeper = image.id;
            draw();
          });
          keep.setAttribute("aria-label", t("keep", { path: image.path }));
          item.append(keep);
        }
        return item;
      }),
    );
  };
  draw();
  box.append(title, list);
  if (group.kind !== "burst") {
    const move = button(t("move.others"), "move", async () => {
      const leaving = group.images.filter((image) => image.id !== keeper);
      if (!(await confirmMove(leaving, folder))) return;
      const body = JSON.stringify({ image_ids: group.images.map((image) => image.id), keeper_id: keeper, threshold });
      try {
        const done = await api("/api/duplicates/resolve", { method: "POST", headers: { "Content-Type": "application/json" }, body });
        box.remove();
        $("#dup-undo").hidden = false;
        const skipped = done.skipped.length ? t("left.alone", { n: done.skipped.length, reason: done.skipped[0].reason }) : "";
        setMessage(t("moved", { n: done.moved, folder: done.folder, skipped }), Boolean(done.skipped.length), "#dup-message");
      } catch (error) {
        setMessage(error.message, true, "#dup-message");
      }
    });
    move.setAttribute("aria-label", t("move.others.label", { n: number + 1 }));
    box.append(move);
  }
  return box;
}

export async function undoMove() {
  try {
    const done = await api("/api/duplicates/undo", { method: "POST" });
    $("#dup-undo").hidden = true;
    await loadDuplicates();
    setMessage(t("put.back", { n: done.moved }), false, "#dup-message");
  } catch (error) {
    setMessage(error.message, true, "#dup-message");
  }
}

export async function loadDuplicates(event) {
  event?.preventDefault();
  setMessage(t("looking"), false, "#dup-message");
  try {
    const threshold = parseFloat($("#threshold").value);
    const data = await api(`/api/duplicates?threshold=${encodeURIComponent($("#threshold").value)}`);
    const groups = data.groups.map((group, number) => duplicateGroup(group, number, threshold, data.folder));
    $("#dup-groups").replaceChildren(...groups);
    const waiting = data.not_embedded
      ? t("not.embedded", { n: data.not_embedded })
      : "";
    const found = groups.length ? t("n.groups", { n: groups.length }) : t("no.duplicates");
    setMessage(found + waiting, false, "#dup-message");
  } catch (error) {
    setMessage(error.message, true, "#dup-message");
  }
}
