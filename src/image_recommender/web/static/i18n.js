// The page's words in English and German. The page's language is the browser's (the server
// reads Accept-Language into <html lang>), unless the user picked one with the switch.
"use strict";

const WORDS = {
  en: {
    "tab.search": "Search", "tab.duplicates": "Duplicates", "tab.status": "Status", "language": "Language",
    "search.placeholder": "Describe a picture, e.g. a red bicycle (press / to focus)",
    "search.describe": "Describe what you are looking for",
    "drop": "Drop or pick a query image", "drop.chosen": "Query image: {name} (click to change)",
    "clear.image": "Clear the query image", "results": "Results", "search.go": "Search",
    "filters": "Filter by date taken and camera, and order the results",
    "taken.from": "Taken from", "taken.to": "to", "taken.to.title": "this day included", "camera": "Camera",
    "camera.placeholder": "e.g. Pixel 7", "every.copy": "every copy",
    "every.copy.title": "Exact copies of a file are one result unless this is ticked",
    "only.in": "Only in", "whole.library": "Search the whole library", "order": "Order",
    "order.score": "best match first", "order.date": "by date taken",
    "clear.refine": "Clear likes and dislikes", "clear.selection": "Clear selection",
    "threshold": "Near-duplicate similarity", "find.duplicates": "Find duplicates", "undo.move": "Undo last move",
    "confirm.note": "Nothing is deleted: \"Undo last move\" puts them back.", "cancel": "Cancel", "move": "Move",
    "close": "Close",
    "show": "Show {path}", "show.full": "Show the full image", "more.like": "More like {path}", "like": "Like {path}",
    "dislike": "Dislike {path}", "only.folder": "Search only in {folder}/", "select": "Select {path} for download",
    "select.title": "Select for download", "copies": "+{n} {n, copy, copies}",
    "copies.title": "The same file also at:", "file.date": "file date {when} (the photo has no date taken)",
    "taken": "taken {when}", "remove": "Remove {path} from {kind}", "liked": "liked", "disliked": "disliked",
    "query.recommended": "Recommended", "query.library": "Library", "query.image": "Like {name}",
    "query.more": "More like #{id}", "quoted": "“{text}”", "n.liked": "{n} liked", "n.disliked": "{n} disliked",
    "n.results": "{heading}: {n} {n, result, results} ({model})", "no.results": "{heading}: no matching images",
    "refined.by": "Refined by {what}:", "n.selected": "{n} selected",
    "n.selected.shown": "{n} selected ({shown} shown here)", "n.selected.none": "{n} selected (none shown here)",
    "download": "Download {n} selected (zip)",
    "dislikes.alone": "Dislikes push a search away from images: search, or like an image, to see results.",
    "searching": "Searching…", "not.an.image": "{name} is not an image imrec can read ({reason})",
    "type.first": "Type a description or pick an image first.",
    "library.page": "Library: images {first}-{last} of {total} (search, or pick one for more like it)",
    "library.empty": "The library is empty: run 'imrec index' first",
    "group.exact": "exact copies", "group.near": "near duplicates (≥ {score})",
    "group.burst": "similar shots taken seconds apart (kept, never moved)", "group": "Group {n}: {title}",
    "keep.this": "Keep this one", "keep": "Keep {path}", "move.others": "Move the others",
    "move.others.label": "Move the others of group {n}", "confirm.move": "Move {n} file(s) ({size}) to {folder}?",
    "left.alone": "; {n} left alone: {reason}", "moved": "Moved {n} file(s) to {folder}{skipped}",
    "put.back": "Put back {n} file(s)", "looking": "Looking for duplicates…",
    "not.embedded": " · {n} image(s) are not embedded yet and cannot be compared: run imrec index",
    "n.groups": "{n} group(s); the outlined image is the keeper", "no.duplicates": "No duplicates found",
    "index.current": "current", "index.outdated": "out of date ({stale} stale, {unindexed} not indexed)",
    "index.line": "{kind}, {count} vectors, {state}", "none": "none", "none.yet": "none yet",
    "unreadable": "Files that could not be read", "nothing": "None.", "status.library": "Library {root}",
    "status.model": "Model: {model}", "status.index": "Index: {index}",
  },
  de: {
    "tab.search": "Suche", "tab.duplicates": "Duplikate", "tab.status": "Status", "language": "Sprache",
    "search.placeholder": "Beschreiben Sie ein Bild, z. B. ein rotes Fahrrad (/ springt hierher)",
    "search.describe": "Beschreiben Sie, was Sie suchen",
    "drop": "Suchbild ablegen oder wählen", "drop.chosen": "Suchbild: {name} (klicken zum Ändern)",
    "clear.image": "Suchbild entfernen", "results": "Treffer", "search.go": "Suchen",
    "filters": "Nach Aufnahmedatum und Kamera filtern und die Treffer ordnen",
    "taken.from": "Aufgenommen von", "taken.to": "bis", "taken.to.title": "dieser Tag eingeschlossen",
    "camera": "Kamera", "camera.placeholder": "z. B. Pixel 7", "every.copy": "jede Kopie",
    "every.copy.title": "Exakte Kopien einer Datei sind ein Treffer, außer hier ist angekreuzt",
    "only.in": "Nur in", "whole.library": "Die ganze Bibliothek durchsuchen", "order": "Reihenfolge",
    "order.score": "beste Treffer zuerst", "order.date": "nach Aufnahmedatum",
    "clear.refine": "Gefällt mir und Gefällt mir nicht zurücksetzen", "clear.selection": "Auswahl aufheben",
    "threshold": "Ähnlichkeit für Beinahe-Duplikate", "find.duplicates": "Duplikate finden",
    "undo.move": "Letztes Verschieben rückgängig",
    "confirm.note": "Nichts wird gelöscht: „Letztes Verschieben rückgängig“ holt sie zurück.",
    "cancel": "Abbrechen", "move": "Verschieben", "close": "Schließen",
    "show": "{path} zeigen", "show.full": "Das ganze Bild zeigen", "more.like": "Mehr wie {path}",
    "like": "Gefällt mir: {path}", "dislike": "Gefällt mir nicht: {path}",
    "only.folder": "Nur in {folder}/ suchen", "select": "{path} zum Herunterladen auswählen",
    "select.title": "Zum Herunterladen auswählen", "copies": "+{n} {n, Kopie, Kopien}",
    "copies.title": "Dieselbe Datei liegt auch unter:", "file.date": "Dateidatum {when} (das Foto hat kein Aufnahmedatum)",
    "taken": "aufgenommen {when}", "remove": "{path} aus {kind} entfernen", "liked": "Gefällt mir",
    "disliked": "Gefällt mir nicht", "query.recommended": "Empfohlen", "query.library": "Bibliothek",
    "query.image": "Wie {name}", "query.more": "Mehr wie #{id}", "quoted": "„{text}“", "n.liked": "{n} gefallen",
    "n.disliked": "{n} nicht gefallen", "n.results": "{heading}: {n} {n, Treffer, Treffer} ({model})",
    "no.results": "{heading}: keine passenden Bilder", "refined.by": "Verfeinert durch {what}:",
    "n.selected": "{n} ausgewählt", "n.selected.shown": "{n} ausgewählt ({shown} hier zu sehen)",
    "n.selected.none": "{n} ausgewählt (keines hier zu sehen)", "download": "{n} ausgewählte herunterladen (Zip)",
    "dislikes.alone": "„Gefällt mir nicht“ schiebt eine Suche von Bildern weg: suchen Sie oder markieren Sie ein Bild mit „Gefällt mir“.",
    "searching": "Suche läuft …", "not.an.image": "{name} ist kein Bild, das imrec lesen kann ({reason})",
    "type.first": "Geben Sie zuerst eine Beschreibung ein oder wählen Sie ein Bild.",
    "library.page": "Bibliothek: Bilder {first}–{last} von {total} (suchen oder eines für ähnliche wählen)",
    "library.empty": "Die Bibliothek ist leer: zuerst 'imrec index' ausführen",
    "group.exact": "exakte Kopien", "group.near": "Beinahe-Duplikate (≥ {score})",
    "group.burst": "ähnliche Aufnahmen im Sekundenabstand (behalten, nie verschoben)", "group": "Gruppe {n}: {title}",
    "keep.this": "Dieses behalten", "keep": "{path} behalten", "move.others": "Die anderen verschieben",
    "move.others.label": "Die anderen aus Gruppe {n} verschieben",
    "confirm.move": "{n} Datei(en) ({size}) nach {folder} verschieben?",
    "left.alone": "; {n} unverändert gelassen: {reason}", "moved": "{n} Datei(en) nach {folder} verschoben{skipped}",
    "put.back": "{n} Datei(en) zurückgelegt", "looking": "Suche nach Duplikaten …",
    "not.embedded": " · {n} Bild(er) sind noch nicht eingebettet und nicht vergleichbar: imrec index ausführen",
    "n.groups": "{n} Gruppe(n); das umrandete Bild wird behalten", "no.duplicates": "Keine Duplikate gefunden",
    "index.current": "aktuell", "index.outdated": "veraltet ({stale} veraltet, {unindexed} nicht im Index)",
    "index.line": "{kind}, {count} Vektoren, {state}", "none": "keiner", "none.yet": "noch keiner",
    "unreadable": "Dateien, die nicht gelesen werden konnten", "nothing": "Keine.",
    "status.library": "Bibliothek {root}", "status.model": "Modell: {model}", "status.index": "Index: {index}",
  },
};

const LANGUAGES = Object.keys(WORDS);

function pageLanguage() {
  const chosen = localStorage.getItem("imrec-language");
  if (LANGUAGES.includes(chosen)) return chosen;
  const given = document.documentElement.lang;
  return LANGUAGES.includes(given) ? given : "en";
}

// "{n, copy, copies}" picks the singular for 1; numbers are written the language's way.
function t(key, vars = {}) {
  const language = pageLanguage();
  const text = WORDS[language][key] ?? WORDS.en[key] ?? key;
  return text.replace(/\{(\w+)(?:, ([^,}]*), ([^}]*))?\}/g, (_, name, one, many) => {
    const value = vars[name];
    if (one !== undefined) return Number(value) === 1 ? one : many;
    return typeof value === "number" ? value.toLocaleString(language) : String(value ?? "");
  });
}

// The words written into the page itself: data-i18n (text), -placeholder, -title, -label (aria).
function translatePage() {
  document.documentElement.lang = pageLanguage();
  for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const element of document.querySelectorAll("[data-i18n-placeholder]")) element.placeholder = t(element.dataset.i18nPlaceholder);
  for (const element of document.querySelectorAll("[data-i18n-title]")) element.title = t(element.dataset.i18nTitle);
  for (const element of document.querySelectorAll("[data-i18n-label]")) element.setAttribute("aria-label", t(element.dataset.i18nLabel));
}
