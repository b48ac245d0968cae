import { existsSync, readFileSync, statSync } from 'node:fs';

/** A secret or password read from a file the user named; the problem names the file, never its content. */
export function readSourceFile(path: string, what = 'the file'): { value: string } | { problem: string } {
  if (!existsSync(path)) return { problem: `${what} ${path} does not exist` };
  if (!statSync(path).isFile()) return { problem: `${path} is not a file` };
  try {
    return { value: readFileSync(path, 'utf8') };
  } catch (error) {
    return { problem: `${what} ${path} cannot be read (${(error as NodeJS.ErrnoException).code})` };
  }
}
