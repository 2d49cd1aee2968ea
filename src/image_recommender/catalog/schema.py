"""The catalog's SQL schema, its migrations from every earlier version, and the walk's temporary tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


SCHEMA_VERSION = 13


# The original design's table images(id, filepath, vector_blob, faiss_index_offset), as a view
# (v1 creates it; v3 recreates it after rebuilding the images table).
_SEED_VIEW = """
CREATE VIEW seed_images AS
    SELECT images.id AS id, images.path AS filepath, vectors.vector AS vector_blob,
           vectors.id AS faiss_index_offset, models.name AS model
    FROM images
    LEFT JOIN vectors ON vectors.image_id = images.id
    LEFT JOIN models ON models.id = vectors.model_id;
"""


_SCHEMA_V1 = (
    """
CREATE TABLE images(
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    raw_path BLOB,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    fingerprint TEXT,
    width INTEGER,
    height INTEGER,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'ok', 'failed', 'gone')),
    error TEXT,
    updated_at REAL NOT NULL
);
CREATE INDEX images_state ON images(state);
CREATE INDEX images_fingerprint ON images(fingerprint);
CREATE TABLE models(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    pretrained TEXT NOT NULL,
    dim INTEGER NOT NULL,
    weights TEXT NOT NULL,
    config TEXT,
    UNIQUE(name, pretrained)
);
CREATE TABLE vectors(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    vector BLOB NOT NULL,
    UNIQUE(image_id, model_id)
);
CREATE INDEX vectors_model_fingerprint ON vectors(model_id, fingerprint);
"""
    + _SEED_VIEW
)


# v2: a covering index so the live labels of 100k images read in ~50 ms, not a table scan, and
# a generation counter that every change bumps, so an index can tell it is exactly current.
_SCHEMA_V2 = """
CREATE INDEX IF NOT EXISTS vectors_model_image ON vectors(model_id, image_id);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', 0);
"""


# v3: a file is identified by its name's bytes, not its displayed text: a name that is not UTF-8
# (shown as caf\xe9.jpg) and a file literally named "caf\xe9.jpg" are two rows. SQLite cannot
# drop a column's UNIQUE, so the table is rebuilt (foreign keys off, see _migrate).
_SCHEMA_V3 = (
    """
DROP VIEW seed_images;
CREATE TABLE images_v3(
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    raw_path BLOB,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    fingerprint TEXT,
    width INTEGER,
    height INTEGER,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'ok', 'failed', 'gone')),
    error TEXT,
    updated_at REAL NOT NULL
);
INSERT INTO images_v3 SELECT id, path, raw_path, size, mtime_ns, fingerprint, width, height, state, error, updated_at
    FROM images;
DROP TABLE images;
ALTER TABLE images_v3 RENAME TO images;
CREATE UNIQUE INDEX images_name ON images(coalesce(raw_path, CAST(path AS BLOB)));
CREATE INDEX images_path ON images(path);
CREATE INDEX images_state ON images(state);
CREATE INDEX images_fingerprint ON images(fingerprint);
"""
    + _SEED_VIEW
)


# v4: what a photo says about itself (images/metadata.py), filled while embedding, and for
# files embedded before by reading their headers; taken_from NULL means "not read yet".
_SCHEMA_V4 = """
ALTER TABLE images ADD COLUMN taken_at TEXT;
ALTER TABLE images ADD COLUMN taken_offset TEXT;
ALTER TABLE images ADD COLUMN taken_from TEXT;
ALTER TABLE images ADD COLUMN camera TEXT;
ALTER TABLE images ADD COLUMN latitude REAL;
ALTER TABLE images ADD COLUMN longitude REAL;
CREATE INDEX images_taken_at ON images(taken_at);
"""


# v5: dates taken before the year 1000 were stored with short years ("1-01-01T00:00:00"),
# which compare wrongly as text and failed date parsing; padded to four digits. Images that a
# duplicates move took out of the library are remembered (moved_out), so an update before the
# undo does not forget them: the undo then brings back their ids and vectors.
_SCHEMA_V5 = """
UPDATE images SET taken_at = substr('000' || taken_at, -19) WHERE length(taken_at) BETWEEN 16 AND 18;
CREATE TABLE IF NOT EXISTS moved_out(
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    moved_at REAL NOT NULL
);
"""


# v6: the text recognised in pictures, once per content (a moved or copied file keeps it): its
# lines with their boxes and scores as JSON, and a full-text index (FTS5, trigram) over the
# folded text (catalog/words.py) whose rowid is the texts row's id.
_SCHEMA_V6 = """
CREATE TABLE IF NOT EXISTS texts(
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('ok', 'failed')),
    lines TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    engine TEXT NOT NULL,
    read_at REAL NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS text_words USING fts5(body, tokenize='trigram');
"""


# v7: smart albums: a kept query (JSON: terms, filters, k) with an optional mirror folder, and
# the files an album made there (name, the image, how it was made), so it never touches others.
_SCHEMA_V7 = """
CREATE TABLE IF NOT EXISTS albums(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    query TEXT NOT NULL,
    mirror TEXT,
    mode TEXT CHECK (mode IN ('link', 'copy')),
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS album_files(
    album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    image_id INTEGER NOT NULL,
    target TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    PRIMARY KEY(album_id, name)
);
"""


# v8: themes of one model's vectors (k-means centres with their names and how sure the naming
# is, a name the user gave), each live image in exactly one, with its closeness to the centre.
# Ids are never reused: a number from before a recomputation names no other theme after it.
_SCHEMA_V8 = """
CREATE TABLE IF NOT EXISTS themes(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    name_de TEXT,
    name_en TEXT,
    user_name TEXT,
    confidence REAL NOT NULL,
    runners_up TEXT NOT NULL,
    centre BLOB NOT NULL,
    images_then INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS theme_members(
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    theme_id INTEGER NOT NULL REFERENCES themes(id) ON DELETE CASCADE,
    closeness REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS theme_members_by_theme ON theme_members(theme_id, closeness);
"""


# v9: places by name (places/geocoding.py), looked up from a photo's position when it is recorded
# and for photos recorded before (``place_checked`` 0: not looked up yet; a position far from
# every town stays without a place). ``place_names`` holds every folded name a place answers to:
# its town's and big city's spellings, its region's, its country's in English and German, with
# the entity it names ("Munich, Bavaria, Germany"), so that one name meaning two places is told,
# and whether it is one of GeoNames' alternate names (a query reads those as a place only when
# typed like one: capitalised, or after "in").
_SCHEMA_V9 = """
CREATE TABLE IF NOT EXISTS places(
    id INTEGER PRIMARY KEY,
    town TEXT NOT NULL,
    city TEXT,
    region TEXT,
    country TEXT NOT NULL,
    country_code TEXT NOT NULL,
    label TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS place_names(
    name TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('town', 'region', 'country')),
    entity TEXT NOT NULL,
    place_id INTEGER NOT NULL REFERENCES places(id) ON DELETE CASCADE,
    alternate INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(name, level, place_id)
) WITHOUT ROWID;
ALTER TABLE images ADD COLUMN place_id INTEGER REFERENCES places(id);
ALTER TABLE images ADD COLUMN place_checked INTEGER NOT NULL DEFAULT 0;
CREATE INDEX images_place ON images(place_id);
"""


# v10: videos. A video is one row of ``images`` with one vector per kept frame: ``vectors`` gets
# the frame's number and time (seconds; NULL for a picture), and one vector per (image, model,
# frame). Labels (``vectors.id``) are never reused: the rebuilt table keeps the old sequence.
# The seed view shows a video's first frame; ``images.duration`` is a video's length in seconds.
_SCHEMA_V10 = """
ALTER TABLE images ADD COLUMN duration REAL;
DROP VIEW IF EXISTS seed_images;
CREATE TEMP TABLE kept_sequence AS SELECT seq FROM sqlite_sequence WHERE name = 'vectors';
CREATE TABLE vectors_v10(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    vector BLOB NOT NULL,
    frame INTEGER NOT NULL DEFAULT 0,
    seconds REAL,
    UNIQUE(image_id, model_id, frame)
);
INSERT INTO vectors_v10(id, image_id, model_id, fingerprint, vector)
    SELECT id, image_id, model_id, fingerprint, vector FROM vectors;
DROP TABLE vectors;
ALTER TABLE vectors_v10 RENAME TO vectors;
UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM temp.kept_sequence), 0)) WHERE name = 'vectors';
DROP TABLE temp.kept_sequence;
CREATE INDEX vectors_model_fingerprint ON vectors(model_id, fingerprint);
CREATE INDEX vectors_model_image ON vectors(model_id, image_id);
CREATE VIEW seed_images AS
    SELECT images.id AS id, images.path AS filepath, vectors.vector AS vector_blob,
           vectors.id AS faiss_index_offset, models.name AS model
    FROM images
    LEFT JOIN vectors ON vectors.image_id = images.id AND vectors.frame = 0
    LEFT JOIN models ON models.id = vectors.model_id;
"""


# v11: words fold as Lucene's German normalisation folds them (catalog/words.py: "ä", "ae" and
# "a" meet): the stored folded text and place names are folded again (``fold`` of the earlier
# folding is the new folding of the original, as "ae" folds to "a" now), the own names first.
_SCHEMA_V11 = """
UPDATE text_words SET body = imrec_fold_lines(body);
CREATE TEMP TABLE refolded AS SELECT imrec_fold(name) AS name, level, entity, place_id, alternate FROM place_names;
DELETE FROM place_names;
INSERT OR IGNORE INTO place_names(name, level, entity, place_id, alternate)
    SELECT name, level, entity, place_id, alternate FROM temp.refolded WHERE name != '' ORDER BY alternate;
DROP TABLE temp.refolded;
"""


# v12: people. Faces are found per content (a moved or copied file keeps them): ``face_reads``
# says a content was looked at (its state, how many faces, why it failed), ``faces`` holds each
# face's box and landmarks (JSON, fractions of the picture), score, size in pixels, sharpness
# and 128-d descriptor, and its person; ``by_user`` marks a face the user put there, which a
# regrouping never moves. ``people`` holds the groups: a name (and its folded form, to find
# it in a query) once the user gives one, and whether it is hidden.
_SCHEMA_V12 = """
CREATE TABLE IF NOT EXISTS face_reads(
    fingerprint TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    faces INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    engine TEXT,
    read_at REAL
);
CREATE TABLE IF NOT EXISTS people(
    id INTEGER PRIMARY KEY,
    name TEXT,
    folded TEXT,
    hidden INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS people_folded ON people(folded);
CREATE TABLE IF NOT EXISTS faces(
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    box TEXT NOT NULL,
    landmarks TEXT NOT NULL,
    score REAL NOT NULL,
    side INTEGER NOT NULL,
    sharpness REAL NOT NULL,
    vector BLOB NOT NULL,
    person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
    by_user INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS faces_fingerprint ON faces(fingerprint);
CREATE INDEX IF NOT EXISTS faces_person ON faces(person_id);
"""


# v13: faces in videos. A face found in a video's frame keeps the frame's time (``seconds``;
# NULL for a picture's face), so its crop and its person's listing show that moment. The table
# is rebuilt rather than altered, so the step also holds for a catalog that has the column.
_SCHEMA_V13 = """
CREATE TABLE faces_v13(
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    box TEXT NOT NULL,
    landmarks TEXT NOT NULL,
    score REAL NOT NULL,
    side INTEGER NOT NULL,
    sharpness REAL NOT NULL,
    vector BLOB NOT NULL,
    person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
    by_user INTEGER NOT NULL DEFAULT 0,
    seconds REAL
);
INSERT INTO faces_v13(id, fingerprint, box, landmarks, score, side, sharpness, vector, person_id, by_user)
    SELECT id, fingerprint, box, landmarks, score, side, sharpness, vector, person_id, by_user FROM faces;
DROP TABLE faces;
ALTER TABLE faces_v13 RENAME TO faces;
CREATE INDEX faces_fingerprint ON faces(fingerprint);
CREATE INDEX faces_person ON faces(person_id);
"""


_MIGRATIONS: dict[int, str] = {
    1: _SCHEMA_V1,
    2: _SCHEMA_V2,
    3: _SCHEMA_V3,
    4: _SCHEMA_V4,
    5: _SCHEMA_V5,
    6: _SCHEMA_V6,
    7: _SCHEMA_V7,
    8: _SCHEMA_V8,
    9: _SCHEMA_V9,
    10: _SCHEMA_V10,
    11: _SCHEMA_V11,
    12: _SCHEMA_V12,
    13: _SCHEMA_V13,
}


_WALK_TABLES = """
DROP TABLE IF EXISTS temp.walked; DROP TABLE IF EXISTS temp.unseen;
DROP TABLE IF EXISTS temp.changed; DROP TABLE IF EXISTS temp.vanished;
CREATE TEMP TABLE walked(name BLOB PRIMARY KEY, path TEXT NOT NULL, raw_path BLOB, size INTEGER, mtime_ns INTEGER)
    WITHOUT ROWID;
CREATE INDEX temp.walked_identity ON walked(size, mtime_ns);
CREATE TEMP TABLE unseen(name TEXT PRIMARY KEY);
CREATE TEMP TABLE changed(id INTEGER PRIMARY KEY, size INTEGER, mtime_ns INTEGER, returned INTEGER);
CREATE TEMP TABLE vanished(id INTEGER PRIMARY KEY);
"""


_DROP_WALK_TABLES = """
DROP TABLE IF EXISTS temp.walked; DROP TABLE IF EXISTS temp.unseen;
DROP TABLE IF EXISTS temp.changed; DROP TABLE IF EXISTS temp.vanished;
"""
