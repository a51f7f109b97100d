/*
 * skill.h — skill versions of a workspace (SPEC §7): an append-only numbered history per
 * skill name.
 *
 * DESIGN NOTES
 *  1. Versions of one skill (workspace, name) are numbered 1, 2, 3 … with no gap and no
 *     duplicate under any concurrency. The store assigns seq inside the write transaction
 *     that inserts the row (max + 1 read under the write lock / the skill's row lock), and
 *     a unique (workspace, skill, seq) index makes any slip fail loudly instead of
 *     writing a duplicate. No error of that read is ever swallowed (seed 003).
 *  2. A skill name follows the memory-key rule (SPEC §1): 1..CO_KEY_MAX bytes of UTF-8,
 *     no control characters, no '/'. An empty name is 400.
 *  3. A version's body is any JSON value except null, kept as compact JSON text.
 *  4. Strings are heap-owned by the structs; *_clear() frees them.
 */
#ifndef COLONY_CORE_SKILL_H
#define COLONY_CORE_SKILL_H

#include "buf.h"
#include "clock.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
	char *skill;     /* the skill's name */
	int64_t seq;     /* 1, 2, 3 … */
	char *body_json; /* compact JSON text */
	co_usec_t created_at;
} co_skill_version;

typedef struct {
	co_skill_version *items;
	size_t n;
} co_skill_version_list;

/* A skill of a workspace: its name and latest version. */
typedef struct {
	char *name;
	int64_t latest_seq;
	co_usec_t updated_at; /* created_at of the latest version */
} co_skill;

typedef struct {
	co_skill *items;
	size_t n;
} co_skill_list;

/* A page of versions, newest first: seq strictly below `before` (0: from the newest). */
typedef struct {
	int64_t before;
	int limit;
} co_skill_page;

/* A page of skills by name (bytewise): names strictly greater than `after` (NULL: all). */
typedef struct {
	const char *after;
	int limit;
} co_skill_filter;

void co_skill_version_clear(co_skill_version *v);
void co_skill_version_list_clear(co_skill_version_list *l);
void co_skill_clear(co_skill *s);
void co_skill_list_clear(co_skill_list *l);

/* Note 2: CO_OK or CO_EINVAL with the message naming the skill name. */
int co_skill_validate_name(const char *name);

/* Reads a POST body {body} (any JSON but null): *body_json_out is its compact JSON text
 * (free() it). CO_EINVAL naming the field otherwise. */
int co_skill_parse_version(json_t *req, char **body_json_out);

/* {skill, seq, body, created_at} */
void co_skill_version_to_json(const co_skill_version *v, co_buf *b);
/* {name, latest_seq, updated_at} */
void co_skill_to_json(const co_skill *s, co_buf *b);

#endif
