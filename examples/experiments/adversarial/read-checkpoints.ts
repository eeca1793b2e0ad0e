// Hostile: read the kernel's checkpoints, which the notes policy forbids with SIGPOLICY.
console.log(sys.readdir('state/checkpoints').length);
