/* test_replay_tls.c — the kept corpus of fuzz/fuzz_tls.c replayed without
 * libFuzzer, so the plain build (and `make valgrind`, which runs every
 * tests/test_*) checks the TLS engine on those inputs too: every file in
 * the directories given (default: fuzz/corpus/tls) goes once through the
 * harness's LLVMFuzzerTestOneInput, which aborts on a finding. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs the input in file path; -1 if it cannot be read. */
static int replay(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return -1;
  static uint8_t buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  LLVMFuzzerTestOneInput(buf, n);
  return 0;
}

int main(int argc, char **argv) {
  LLVMFuzzerInitialize(&argc, &argv);
  const char *fallback[] = {XCS_SOURCE_DIR "/fuzz/corpus/tls"};
  const char **dirs = argc > 1 ? (const char **)argv + 1 : fallback;
  int ndirs = argc > 1 ? argc - 1 : 1, inputs = 0;
  for (int i = 0; i < ndirs; i++) {
    DIR *d = opendir(dirs[i]);
    if (d == NULL) {
      fprintf(stderr, "test_replay_tls: cannot read %s\n", dirs[i]);
      return 2;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.') continue;
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", dirs[i], e->d_name);
      if (replay(path) == 0) inputs++;
    }
    closedir(d);
  }
  printf("test_replay_tls: %d inputs replayed\n", inputs);
  return inputs > 0 ? 0 : 1;
}
