#!/bin/bash
# The sqlite3 shell on a generated workload: 50k inserts in one
# transaction, indexes, joins and aggregates, updates, deletes, large
# text/blob values, VACUUM and an integrity check. sqlite allocates
# through malloc (page cache, statements, sort buffers); output of the
# plain and the preloaded run must match.
#   run_sqlite.sh <interposer.so> <probe.so> <sqlite3 or ''>
. "$(dirname "$0")/common.sh"
init "$1" "$2"
require_tool "$3" sqlite3
SQLITE=$3

# Same Park-Miller stream as run_sort.sh: identical in any awk.
awk 'BEGIN {
    x = 4242; m = 2147483647
    print "PRAGMA cache_size = -32768;"
    print "PRAGMA temp_store = MEMORY;"
    print "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    print "    city INTEGER, score INTEGER, note TEXT);"
    print "CREATE TABLE cities(id INTEGER PRIMARY KEY, label TEXT);"
    print "BEGIN;"
    for (c = 0; c < 500; c++)
        printf "INSERT INTO cities VALUES(%d, %ccity-%d-%d%c);\n", c, 39, c, c * 7919 % 1000, 39
    for (i = 1; i <= 50000; i++) {
        x = (x * 16807) % m; a = x
        x = (x * 16807) % m; b = x
        name = ""
        n = 3 + a % 20
        for (j = 0; j < n; j++) {
            name = name sprintf("%c", 97 + (a + j * 13) % 26)
            a = int(a / 2) + j
        }
        # every 50th row carries a long note so some rows overflow a page
        note = (i % 50 == 0) ? sprintf("printf(%c%%.*c%c, %d, %cx%c)", 39, 39, 500 + b % 4000, 39, 39) : "NULL"
        printf "INSERT INTO people VALUES(%d, %c%s%c, %d, %d, %s);\n", i, 39, name, 39, b % 500, b % 100000, note
    }
    print "COMMIT;"
}' >"$WORK/load.sql" || fail "generating the workload failed"

cat >"$WORK/queries.sql" <<'SQL'
.bail on
.headers off
.mode list
SELECT count(*), sum(score), min(name), max(name) FROM people;
CREATE INDEX people_city ON people(city, score);
CREATE INDEX people_name ON people(name);
SELECT c.label, count(*), sum(p.score), max(length(p.note))
  FROM people p JOIN cities c ON c.id = p.city
  GROUP BY c.label ORDER BY count(*) DESC, c.label LIMIT 25;
SELECT name, score FROM people WHERE name LIKE 'ab%' ORDER BY score, name LIMIT 40;
SELECT city, group_concat(name, ',') FROM
  (SELECT city, name FROM people WHERE score % 997 = 1 ORDER BY name)
  GROUP BY city ORDER BY city LIMIT 30;
SELECT count(DISTINCT name), count(DISTINCT city), avg(length(name)) FROM people;
WITH ranked AS (SELECT id, score, row_number() OVER (PARTITION BY city ORDER BY score DESC, id) AS r FROM people)
  SELECT count(*), sum(score), sum(id) FROM ranked WHERE r <= 3;
UPDATE people SET score = score * 2 + 1, name = upper(name) WHERE id % 3 = 0;
UPDATE people SET note = printf('%.*c', 2000 + id % 3000, 'y') WHERE id % 101 = 0;
DELETE FROM people WHERE score % 5 = 0;
SELECT count(*), sum(score), sum(length(note)) FROM people;
CREATE TABLE blobs AS SELECT id, zeroblob(1000 + id % 20000) AS b FROM people WHERE id % 40 = 0;
SELECT count(*), sum(length(b)) FROM blobs;
DROP TABLE blobs;
DELETE FROM people WHERE id > 40000;
VACUUM;
PRAGMA integrity_check;
SELECT name, score, city FROM people ORDER BY name DESC, id LIMIT 50;
SELECT sum(score), total(id), count(*) FROM people;
SQL

# Each run gets its own database file in its own working directory.
cat "$WORK/load.sql" "$WORK/queries.sql" >"$WORK/all.sql"
compare_runs sqlite '*sqlite3*' "$WORK/all.sql" "$SQLITE" -batch test.db
tail -n 3 "$WORK/sqlite.plain.out"
