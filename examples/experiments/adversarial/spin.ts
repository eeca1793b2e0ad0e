// Hostile: never yield. The experiment's CPU limit ends it with SIGKILL.
let n = 0;
for (;;) n++;
