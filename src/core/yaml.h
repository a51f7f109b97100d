/*
 * yaml.h — YAML text to a jansson tree (libyaml), for org templates sent as
 * `Content-Type: application/yaml` (SPEC §4).
 *
 * DESIGN NOTES
 *  1. One document, read with libyaml's event parser into the same json_t tree that a JSON
 *     body gives, so everything after parsing (validation, the import plan) has one path.
 *  2. Scalars follow the YAML 1.2 core schema, not 1.1: a plain (unquoted) scalar is null
 *     (`null`, `Null`, `NULL`, `~`, empty), a boolean (`true`/`True`/`TRUE`, `false`/…),
 *     an integer (decimal with optional sign; `0x…` hex, `0o…` octal), a real (decimal with
 *     a point or exponent, `.inf`, `.nan` are refused: JSON has no such numbers), or else
 *     a string. So `yes`, `on` and `0 9 * * 1-5` stay strings. Quoted scalars are always
 *     strings. The standard tags `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`,
 *     `!!seq` are honoured; any other tag is refused.
 *  3. Refused with CO_EINVAL and a message with the line and column: anchors and aliases
 *     (an alias can multiply a small text into a huge tree), more than one document,
 *     mapping keys that are not scalars, duplicate keys, nesting deeper than max_depth,
 *     integers outside int64, text that is not UTF-8.
 */
#ifndef COLONY_CORE_YAML_H
#define COLONY_CORE_YAML_H

#include <jansson.h>
#include <stddef.h>

/* Parses buf[0..len) (need not be NUL-terminated). On CO_OK *out is a new reference to
 * the document's root (an empty document gives JSON null). On CO_EINVAL *out is NULL and
 * the message (co_err_msg) says what and where: "YAML line 3 column 5: …". More than
 * max_values values (scalars and collections) is CO_EINVAL too, as soon as the tree would
 * grow past it: a small document can name millions of empty mappings, and the tree, not
 * the text, is what costs memory. */
int co_yaml_to_json(const char *buf, size_t len, int max_depth, size_t max_values, json_t **out);

#endif
