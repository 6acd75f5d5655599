/* rusage_exec: run a program and report what wait4() says about it.
 *
 *   rusage_exec <result file> <LD_PRELOAD value or -> <program> [args...]
 *
 * bench/compare_programs.py starts real programs through this launcher
 * because Linux keeps a process's RSS high-water mark across fork and
 * execve: a program started straight from the (large) Python runner would
 * report at least the runner's own RSS as its ru_maxrss. This launcher is
 * small, so the floor it leaves is a few hundred KiB. The preload is set
 * only in the program's environment, never in the launcher's.
 *
 * The result file gets one line:
 *   wall_ns user_us sys_us maxrss_kb wait_status
 * ru_maxrss and the CPU times cover the program and every child it waited
 * for (gcc's cc1, for example). Exit status: the program's, or 128+signal.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: rusage_exec RESULT PRELOAD|- PROGRAM [ARGS...]\n");
		return 2;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		if (strcmp(argv[2], "-") != 0)
			setenv("LD_PRELOAD", argv[2], 1);
		else
			unsetenv("LD_PRELOAD");
		execvp(argv[3], argv + 3);
		perror(argv[3]);
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("wait4");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long long wall = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
	FILE *f = fopen(argv[1], "w");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	fprintf(f, "%lld %lld %lld %ld %d\n", wall,
		(long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
		(long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec,
		ru.ru_maxrss, status);
	fclose(f);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
