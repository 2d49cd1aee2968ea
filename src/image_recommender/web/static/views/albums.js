// The albums view: the kept queries; a click shows an album in the search view.
import { $, api, button, setMessage, state } from "./core.js";
import { runQuery } from "./search.js";
import { show } from "../app.js";

// The smart albums kept with 'imrec album save': one button each, its query beside it; a click
// shows the album's pictures in the search view, where they can be liked, picked and downloaded.
export async function loadAlbums() {
  try {
    const data = await api("/api/albums");
    $("#albums").replaceChildren(...data.albums.map((album) => {
      const item = document.createElement("li");
      const open = button(album.name, "album", () => showAlbum(album.name));
      const query = document.createElement("span");
      query.className = "album-query";
      query.textContent = album.query.join(" ") + (album.mirror ? ` → ${album.mirror}` : "");
      item.append(open, query);
      return item;
    }));
    setMessage(data.albums.length ? "" : t("no.albums"), false, "#albums-message");
  } catch (error) {
    setMessage(error.message, true, "#albums-message");
  }
}

export function showAlbum(name) {
  state.query = { kind: "album", name };
  show("search");
  return runQuery();
}
