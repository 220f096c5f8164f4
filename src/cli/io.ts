// What a CLI command is given: where to write, and the environment it reads its defaults from.

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export type Env = Record<string, string | undefined>;
