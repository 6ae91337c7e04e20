import type { Config } from "./config.ts";
export async function simulate(_cfg: Config): Promise<number> { throw new Error("simulate: not built yet"); }
