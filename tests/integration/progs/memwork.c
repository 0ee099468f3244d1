/* Workload for test_memory_events.py: dlopen a library, map RWX anonymous
 * memory twice, add exec to a writable mapping and remove it again, remove
 * exec from the second half of the second RWX mapping and from the page of
 * the library's code, create a memfd, and exec a copy of /bin/true from a
 * memfd (fileless). argv[1]: library path. Prints the child's pid, the
 * address of the half and of the library page. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	void *h, *p, *q, *fn, *code;
	int fd, src;
	struct stat st;
	pid_t pid;

	if (argc < 2)
		return 2;
	h = dlopen(argv[1], RTLD_NOW);
	if (!h)
		return 3;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	q = mmap(NULL, 8192, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || q == MAP_FAILED)
		return 4;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || mprotect(p, 4096, PROT_READ | PROT_EXEC))
		return 5;
	if (mprotect(p, 4096, PROT_READ))	/* exec removed again */
		return 9;
	/* a part of an executable mapping: the kernel splits it */
	if (mprotect((char *)q + 4096, 4096, PROT_READ | PROT_WRITE))
		return 10;
	fn = dlsym(h, "vigil_test_fn");
	if (!fn)
		return 11;
	code = (void *)((unsigned long)fn & ~4095ul);
	if (mprotect(code, 4096, PROT_READ))	/* the library's code, no longer callable */
		return 12;
	fd = memfd_create("vigil-fileless", MFD_CLOEXEC);
	src = open("/bin/true", O_RDONLY);
	if (fd < 0 || src < 0 || fstat(src, &st) || sendfile(fd, src, NULL, st.st_size) != st.st_size)
		return 6;
	pid = fork();
	if (pid == 0) {
		char *av[] = { "fileless-true", NULL }, *ev[] = { NULL };

		fexecve(fd, av, ev);
		_exit(7);
	}
	if (pid < 0 || waitpid(pid, NULL, 0) != pid)
		return 8;
	printf("%d %lu %lu\n", pid, (unsigned long)q + 4096, (unsigned long)code);
	fflush(stdout);
	_exit(0);	/* not through the library's destructors: its code page is not executable */
}
