/* replay.c: main() that feeds corpus files to a fuzz target's LLVMFuzzerTestOneInput without libFuzzer (make check). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

/*
 * replay FILE|DIR...  feeds each file (and each file in each directory, in
 *                     name order) to the target once, in this process; exits
 *                     non-zero if one could not be read. A failed property
 *                     aborts, as under libFuzzer.
 * replay              the make check test: the target's own corpus,
 *                     $top_srcdir/tests/fuzz/corpus/FUZZ_TARGET (or
 *                     $FUZZ_CORPUS), as TAP, each file in a child process so
 *                     that one crash or leak names its file and the rest run.
 */

#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET='\"name\"'"
#endif
#ifndef FUZZ_CORPUS_ROOT
#define FUZZ_CORPUS_ROOT "tests/fuzz/corpus"
#endif

/* Read path whole into an exact-size heap buffer (ASan then sees a read past the input). */
static int
replay_file(const char *path)
{
	struct stat st;
	uint8_t *data;
	size_t got = 0;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	if ((data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		fclose(f);
		return -1;
	}
	if (st.st_size > 0)
		got = fread(data, 1, (size_t)st.st_size, f);
	fclose(f);
	if (got != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(data);
		return -1;
	}
	LLVMFuzzerTestOneInput(data, got);
	free(data);
	return 0;
}

static int
skip_hidden(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

/* The regular files of dir, sorted; *n gets how many. NULL (and a message) if it cannot be read. */
static char **
list_dir(const char *dir, size_t *n)
{
	struct dirent **ents;
	char **paths;
	int count;

	*n = 0;
	if ((count = scandir(dir, &ents, skip_hidden, alphasort)) == -1) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return NULL;
	}
	if ((paths = calloc((size_t)count + 1, sizeof(*paths))) == NULL) {
		fprintf(stderr, "replay: out of memory\n");
		exit(99);
	}
	for (int i = 0; i < count; i++) {
		struct stat st;
		size_t len = strlen(dir) + strlen(ents[i]->d_name) + 2;
		char *p = malloc(len);

		if (p == NULL) {
			fprintf(stderr, "replay: out of memory\n");
			exit(99);
		}
		snprintf(p, len, "%s/%s", dir, ents[i]->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			paths[(*n)++] = p;
		else
			free(p);
		free(ents[i]);
	}
	free(ents);
	return paths;
}

static void
free_list(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

/* TAP over the target's corpus, one child per file. */
static int
replay_tap(void)
{
	const char *env = getenv("FUZZ_CORPUS"), *top = getenv("top_srcdir");
	char dir[4096];
	char **paths;
	size_t n;
	int failed = 0;

	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	else if (top && *top)
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", top, FUZZ_TARGET);
	else
		snprintf(dir, sizeof(dir), "%s/%s", FUZZ_CORPUS_ROOT, FUZZ_TARGET);
	if ((paths = list_dir(dir, &n)) == NULL) {
		printf("1..0\nBail out! cannot read the corpus %s\n", dir);
		return 1;
	}
	if (n == 0) {
		printf("1..0\nBail out! the corpus %s is empty\n", dir);
		free_list(paths, n);
		return 1;
	}
	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		const char *name = strrchr(paths[i], '/') + 1;
		int status;
		pid_t pid;

		fflush(stdout);
		fflush(stderr);
		if ((pid = fork()) == -1) {
			printf("not ok %zu - %s/%s # fork: %s\n", i + 1, FUZZ_TARGET, name, strerror(errno));
			failed++;
			continue;
		}
		if (pid == 0) {
			/* exit, not _exit: LeakSanitizer checks at exit in an ASan build. */
			int rc = replay_file(paths[i]);
			free_list(paths, n);
			exit(rc == 0 ? 0 : 2);
		}
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("ok %zu - %s/%s\n", i + 1, FUZZ_TARGET, name);
			continue;
		}
		failed++;
		if (WIFSIGNALED(status))
			printf("not ok %zu - %s/%s # killed by signal %d\n", i + 1, FUZZ_TARGET, name, WTERMSIG(status));
		else
			printf("not ok %zu - %s/%s # exit status %d\n", i + 1, FUZZ_TARGET, name, WEXITSTATUS(status));
	}
	free_list(paths, n);
	return failed ? 1 : 0;
}

int
main(int argc, char **argv)
{
	int rc = 0;
	size_t done = 0;

	if (argc < 2)
		return replay_tap();
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			size_t n;
			char **paths = list_dir(argv[i], &n);

			if (paths == NULL) {
				rc = 1;
				continue;
			}
			for (size_t j = 0; j < n; j++)
				if (replay_file(paths[j]) == -1)
					rc = 1;
				else
					done++;
			free_list(paths, n);
		} else if (replay_file(argv[i]) == -1) {
			rc = 1;
		} else
			done++;
	}
	fprintf(stderr, "replay (%s): %zu inputs\n", FUZZ_TARGET, done);
	return rc;
}
