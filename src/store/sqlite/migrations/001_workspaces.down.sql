DROP INDEX IF EXISTS workspaces_parent;
DROP INDEX IF EXISTS workspaces_parent_name_uniq;
DROP TABLE IF EXISTS workspaces;
