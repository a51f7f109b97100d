/*
 * replay_main.c — a main for the harnesses outside libFuzzer: feeds every file of the
 * given directories (and any files given) to LLVMFuzzerTestOneInput, in name order, once
 * each. The fuzz_<name>_replay tests run it over the committed corpora in every build
 * (gcc, clang ASan+UBSan), so a regression input that crashes fails the test run.
 *
 * Exit status: 0 when every input ran (a harness abort()s on a finding); 2 on a usage
 * or I/O error, or when a directory holds no input at all.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Runs one file; false on an I/O error. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: cannot open %s\n", path);
		return 0;
	}
	size_t cap = 4096, n = 0;
	uint8_t *buf = malloc(cap);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			uint8_t *b = realloc(buf, cap * 2);
			if (!b) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = b;
			cap *= 2;
		}
	}
	int ok = buf && !ferror(f);
	fclose(f);
	if (ok) {
		/* An exact-size copy, so ASan sees a read past the input's end. */
		uint8_t *in = malloc(n ? n : 1);
		if (in) {
			memcpy(in, buf, n);
			LLVMFuzzerTestOneInput(in, n);
			free(in);
		} else {
			ok = 0;
		}
	}
	free(buf);
	if (!ok)
		fprintf(stderr, "replay: cannot read %s\n", path);
	return ok;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	size_t total = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
			return 2;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (!run_file(argv[i]))
				return 2;
			total++;
			continue;
		}
		struct dirent **names;
		int n = scandir(argv[i], &names, NULL, alphasort);
		if (n < 0) {
			fprintf(stderr, "replay: cannot list %s\n", argv[i]);
			return 2;
		}
		size_t here = 0;
		int rc = 0;
		for (int k = 0; k < n; k++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
			if (names[k]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (!rc && !run_file(path))
					rc = 2;
				here++;
			}
			free(names[k]);
		}
		free(names);
		if (rc)
			return rc;
		if (!here) {
			fprintf(stderr, "replay: %s holds no input\n", argv[i]);
			return 2;
		}
		total += here;
	}
	printf("replay: %zu inputs ran\n", total);
	return 0;
}
