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
    "camera.placeholder": "e.g. Pixel 7", "every.copy": "every copy", "place": "Place", "place.placeholder": "e.g. Lisbon",
    "literal": "word for word", "literal.title": "Read no dates, places or 'not' from the text",
    "understood.text": "Understood: “{text}”", "understood.place": "in {name}", "understood.date": "{when}",
    "understood.every.year": "{words} (any year)", "understood.not": "not “{word}”",
    "understood.remove": "Take “{what}” as words again", "video.at": "video, best match at {when}",
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
    "tab.albums": "Albums", "query.album": "Album {name}",
    "tab.people": "People", "query.person": "{name}", "people.loading": "Loading the people…",
    "n.people": "{n} {n, person, people}, most pictures first", "no.people": "No people yet: 'imrec index' finds the faces in the pictures.",
    "person.show": "Show the pictures of {name}", "person.rename": "The name of {name}", "person.unnamed": "person {id}",
    "person.merge": "Merge into…", "person.merge.label": "Merge {name} into another person", "n.faces": "{n} {n, face, faces}",
    "understood.person": "{name}",
    "tab.themes": "Themes", "query.theme": "Theme {name}", "themes.loading": "Grouping the library into themes…",
    "n.themes": "{n} {n, theme, themes}, largest first", "no.themes": "No themes: the library has no indexed pictures yet.",
    "theme.show": "Show the pictures of {name}", "theme.rename": "Your own name for {name}", "save": "Save",
    "unnamed": "unnamed", "n.pictures": "{n} {n, picture, pictures}",
    "no.albums": "No albums yet: 'imrec album save NAME QUERY…' keeps a search as one.",
    "region.search": "Search this region", "region.hint": "Drag over the picture to search by a part of it",
    "region.clear": "Remove the region query", "query.region": "Region of {name}", "crop.upload": "Search by a part of it",
    "words.title": "Words read in the picture:", "server.gone": "The imrec server does not answer (is 'imrec serve' still running?)", "searching": "Searching…", "not.an.image": "{name} is not an image imrec can read ({reason})",
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
    "status.text": "Text in pictures: read in {read} of {total} ({found} with text)",
    "status.text.off": "Text in pictures: read in {read} of {total} ({found} with text); reading is off (ocr = false)",
    "text.failed": "text not read: {reason}",
  },
  de: {
    "tab.search": "Suche", "tab.duplicates": "Duplikate", "tab.status": "Status", "language": "Sprache",
    "search.placeholder": "Beschreiben Sie ein Bild, z. B. ein rotes Fahrrad (/ springt hierher)",
    "search.describe": "Beschreiben Sie, was Sie suchen",
    "drop": "Suchbild ablegen oder wählen", "drop.chosen": "Suchbild: {name} (klicken zum Ändern)",
    "clear.image": "Suchbild entfernen", "results": "Treffer", "search.go": "Suchen",
    "filters": "Nach Aufnahmedatum und Kamera filtern und die Treffer ordnen",
    "taken.from": "Aufgenommen von", "taken.to": "bis", "taken.to.title": "dieser Tag eingeschlossen",
    "camera": "Kamera", "camera.placeholder": "z. B. Pixel 7", "every.copy": "jede Kopie", "place": "Ort", "place.placeholder": "z. B. Lissabon",
    "literal": "wörtlich", "literal.title": "Keine Daten, Orte oder „nicht“ aus dem Text lesen",
    "understood.text": "Verstanden: „{text}“", "understood.place": "in {name}", "understood.date": "{when}",
    "understood.every.year": "{words} (jedes Jahr)", "understood.not": "nicht „{word}“",
    "understood.remove": "„{what}“ wieder als Wörter nehmen", "video.at": "Video, beste Stelle bei {when}",
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
    "tab.albums": "Alben", "query.album": "Album {name}",
    "tab.people": "Personen", "query.person": "{name}", "people.loading": "Die Personen werden geladen …",
    "n.people": "{n} {n, Person, Personen}, die mit den meisten Bildern zuerst", "no.people": "Noch keine Personen: 'imrec index' findet die Gesichter in den Bildern.",
    "person.show": "Die Bilder von {name} zeigen", "person.rename": "Der Name von {name}", "person.unnamed": "Person {id}",
    "person.merge": "Zusammenführen mit …", "person.merge.label": "{name} mit einer anderen Person zusammenführen", "n.faces": "{n} {n, Gesicht, Gesichter}",
    "understood.person": "{name}",
    "tab.themes": "Themen", "query.theme": "Thema {name}", "themes.loading": "Die Bibliothek wird in Themen gruppiert …",
    "n.themes": "{n} {n, Thema, Themen}, die größten zuerst", "no.themes": "Keine Themen: Die Bibliothek enthält noch keine indizierten Bilder.",
    "theme.show": "Die Bilder von {name} zeigen", "theme.rename": "Ihr eigener Name für {name}", "save": "Speichern",
    "unnamed": "unbenannt", "n.pictures": "{n} {n, Bild, Bilder}",
    "no.albums": "Noch keine Alben: 'imrec album save NAME ANFRAGE…' bewahrt eine Suche als Album auf.",
    "region.search": "Diesen Ausschnitt suchen", "region.hint": "Ziehen Sie über das Bild, um nach einem Ausschnitt zu suchen",
    "region.clear": "Ausschnitt-Suche entfernen", "query.region": "Ausschnitt aus {name}", "crop.upload": "Nach einem Ausschnitt suchen",
    "words.title": "Im Bild gelesene Wörter:", "server.gone": "Der imrec-Server antwortet nicht (läuft 'imrec serve' noch?)", "searching": "Suche läuft …", "not.an.image": "{name} ist kein Bild, das imrec lesen kann ({reason})",
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
    "status.text": "Text in Bildern: in {read} von {total} gelesen ({found} mit Text)",
    "status.text.off": "Text in Bildern: in {read} von {total} gelesen ({found} mit Text); Lesen ist aus (ocr = false)",
    "text.failed": "Text nicht gelesen: {reason}",
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

// The server speaks English (its API is read by scripts too); what it says and the page shows
// is put into the page's language here, pattern by pattern, with names and numbers kept.
// A message not listed stays as the server wrote it.
const SERVER_WORDS = {
  de: [
    [/^no image with id (\d+)$/, "Kein Bild mit der Nummer $1"],
    [/^image (\d+) does not resolve inside the library$/, "Bild $1 liegt nicht mehr in der Bibliothek"],
    [/^upload larger than (\d+) MB$/, "Die Datei ist größer als $1 MB"],
    [/^the uploaded file is empty$/, "Die Datei ist leer"],
    [/^image (\d+): the file cannot be opened$/, "Bild $1: Die Datei lässt sich nicht öffnen"],
    [/^image (\d+): (.+) is no longer an image file$/, "Bild $1: $2 ist keine Bilddatei mehr"],
    [/^the chosen images hold more than (\d+) GB; choose fewer$/, "Die gewählten Bilder sind zusammen größer als $1 GB; bitte weniger wählen"],
    [/^other downloads are being prepared; try again in a moment$/, "Andere Downloads werden gerade vorbereitet; bitte gleich noch einmal versuchen"],
    [/^image (\d+): (.+) changed while it was being zipped; try again$/, "Bild $1: $2 hat sich beim Packen geändert; bitte noch einmal versuchen"],
    [/^(.+): nothing is indexed yet; run '(.+)' first$/, "$1: Noch nichts indiziert; zuerst '$2' ausführen"],
    [/^(.+): library folder does not exist or is not mounted$/, "$1: Der Bibliotheksordner fehlt oder ist nicht eingehängt"],
    [/^(.+): another imrec \((.+)\) is updating this library; try again when it is done$/, "$1: Ein anderes imrec ($2) aktualisiert gerade diese Bibliothek; bitte danach noch einmal versuchen"],
    [/^image id (\d+): no indexed image with that id$/, "Bildnummer $1: Kein indiziertes Bild hat diese Nummer"],
    [/^empty text query$/, "Die Suche ist leer"],
    [/^a query needs at least one positive term .*$/, "Eine Suche braucht mindestens etwas, das gefällt (ein Bild oder einen Text)"],
    [/^the query's terms cancel each other out.*$/, "Was gefällt und was nicht, hebt sich gegenseitig auf; mehr Gewicht auf das legen, was gefällt"],
    [/^(.+): not a folder in the library (.+)$/, "$1: Kein Ordner in der Bibliothek $2"],
    [/^recommend needs at least one liked image$/, "Für Empfehlungen muss mindestens ein Bild gefallen"],
    [/^no date is both on or after (\S+) and before (\S+)$/, "Kein Datum liegt zugleich am oder nach dem $1 und vor dem $2"],
    [/^camera: give part of a camera's name, e\.g\. '(.+)'$/, "Kamera: einen Teil des Kameranamens angeben, z. B. '$1'"],
    [/^threshold (\S+): files are moved only for groups at (\S+) or above$/, "Schwelle $1: Dateien werden nur in Gruppen ab $2 verschoben"],
    [/^a group of (\d+) images: one resolve moves at most (\d+) files$/, "Eine Gruppe von $1 Bildern: Auf einmal werden höchstens $2 Dateien verschoben"],
    [/^these images are no longer one duplicate group; look for duplicates again$/, "Diese Bilder sind keine Duplikatgruppe mehr; bitte noch einmal nach Duplikaten suchen"],
    [/^a burst is similar shots, not duplicates: nothing is moved$/, "Eine Serie ähnlicher Aufnahmen ist kein Duplikat: Nichts wird verschoben"],
    [/^no move to undo$/, "Keine Verschiebung, die sich rückgängig machen ließe"],
    [/^not an image file, or a format Pillow cannot read$/, "keine Bilddatei oder ein Format, das Pillow nicht lesen kann"],
    [/^empty file \(0 bytes\)$/, "leere Datei (0 Bytes)"],
    [/^file too large \(over (\d+) MB\)$/, "Datei zu groß (über $1 MB)"],
    [/^damaged image: (.+)$/, "beschädigtes Bild: $1"],
    [/^not enough memory to decode$/, "nicht genug Speicher zum Dekodieren"],
    [/^permission denied$/, "Zugriff verweigert"],
    [/^file disappeared before it could be read$/, "Datei verschwand, bevor sie gelesen werden konnte"],
    [/^possible decompression bomb: (.+)$/, "mögliche Dekompressionsbombe: $1"],
    [/^extreme shape (\d+)x(\d+) \(aspect ratio (\d+):1\).*$/, "extremes Format $1×$2 (Seitenverhältnis $3:1): zu viele Pixel für das Modell"],
    [/^(.+): (empty file|file too large|damaged image|not an image file|permission denied|extreme shape)(.*)$/, (_, name, reason, rest) => `${name}: ${serverWords(reason + rest)}`],
  ],
};

function serverWords(message) {
  for (const [pattern, words] of SERVER_WORDS[pageLanguage()] ?? []) {
    if (pattern.test(message)) return message.replace(pattern, words);
  }
  return message;
}

// The words written into the page itself: data-i18n (text), -placeholder, -title, -label (aria).
function translatePage() {
  document.documentElement.lang = pageLanguage();
  for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const element of document.querySelectorAll("[data-i18n-placeholder]")) element.placeholder = t(element.dataset.i18nPlaceholder);
  for (const element of document.querySelectorAll("[data-i18n-title]")) element.title = t(element.dataset.i18nTitle);
  for (const element of document.querySelectorAll("[data-i18n-label]")) element.setAttribute("aria-label", t(element.dataset.i18nLabel));
}
