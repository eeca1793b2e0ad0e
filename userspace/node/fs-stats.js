// Stats, Dirent and fs.constants. The kernel knows two file types (file,
// dir), a size and a modification time; the rest of Stats is filled as a
// single-user file system would report it.

/** FS_CONSTANTS are Linux's values, as Node's fs.constants. */
export const FS_CONSTANTS = Object.freeze({
  F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1,
  O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_CREAT: 64, O_EXCL: 128, O_NOCTTY: 256, O_TRUNC: 512, O_APPEND: 1024,
  O_DIRECTORY: 65536, O_NOFOLLOW: 131072, O_SYNC: 1052672, O_DSYNC: 4096,
  S_IFMT: 61440, S_IFREG: 32768, S_IFDIR: 16384, S_IFCHR: 8192, S_IFBLK: 24576, S_IFIFO: 4096, S_IFLNK: 40960, S_IFSOCK: 49152,
  S_IRWXU: 448, S_IRUSR: 256, S_IWUSR: 128, S_IXUSR: 64, S_IRWXG: 56, S_IRGRP: 32, S_IWGRP: 16, S_IXGRP: 8,
  S_IRWXO: 7, S_IROTH: 4, S_IWOTH: 2, S_IXOTH: 1,
  COPYFILE_EXCL: 1, COPYFILE_FICLONE: 2, COPYFILE_FICLONE_FORCE: 4,
  UV_FS_COPYFILE_EXCL: 1, UV_FS_COPYFILE_FICLONE: 2, UV_FS_COPYFILE_FICLONE_FORCE: 4,
});

/** Stats is what statSync returns: isFile()/isDirectory(), size, mtimeMs and the Date fields. */
export class Stats {
  constructor(kernelStat) {
    const dir = kernelStat.type === 'dir';
    const mtimeMs = Number(kernelStat.mtimeMs) || 0;
    this.dev = 0;
    this.mode = dir ? 0o40755 : 0o100644;
    this.nlink = 1;
    this.uid = 0;
    this.gid = 0;
    this.rdev = 0;
    this.blksize = 4096;
    this.ino = 0;
    this.size = Number(kernelStat.size) || 0;
    this.blocks = Math.ceil(this.size / 512);
    this.atimeMs = mtimeMs;
    this.mtimeMs = mtimeMs;
    this.ctimeMs = mtimeMs;
    this.birthtimeMs = mtimeMs;
    this.atime = new Date(mtimeMs);
    this.mtime = new Date(mtimeMs);
    this.ctime = new Date(mtimeMs);
    this.birthtime = new Date(mtimeMs);
  }
  isFile() {
    return (this.mode & 0o170000) === 0o100000;
  }
  isDirectory() {
    return (this.mode & 0o170000) === 0o040000;
  }
}

/** Dirent is one entry of readdir({ withFileTypes: true }). */
export class Dirent {
  constructor(name, type, parentPath) {
    this.name = name;
    this.parentPath = parentPath;
    this.path = parentPath;
    Object.defineProperty(this, 'kind', { value: type, enumerable: false });
  }
  isFile() {
    return this.kind === 'file';
  }
  isDirectory() {
    return this.kind === 'dir';
  }
}

// The VFS holds only files and directories: the other kinds are never true, for Stats and Dirent alike.
for (const Kind of [Stats, Dirent]) {
  for (const name of ['isSymbolicLink', 'isBlockDevice', 'isCharacterDevice', 'isFIFO', 'isSocket']) {
    Object.defineProperty(Kind.prototype, name, { value: () => false, writable: true, configurable: true });
  }
}
