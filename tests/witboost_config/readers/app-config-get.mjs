#!/usr/bin/env node
// Reads Backstage app-config files the way the Witboost UI does: @backstage/config-loader's file
// source (with `${VAR}` substitution from the environment) and @backstage/config's reader.
//
//   app-config-get.mjs FILE PATH            the value at PATH (dotted), as JSON; null when absent
//   app-config-get.mjs --boolean FILE PATH  getOptionalBoolean(PATH): true, false or null
//   app-config-get.mjs --dump PATH FILE...  per file, one JSON line:
//                                           {"flag": getOptionalBoolean(PATH), "config": everything}
//                                           or {"error": the loader's message}
// The first two exit 1 with the loader's message when the file cannot be read.
import { ConfigSources } from '@backstage/config-loader';
import path from 'node:path';

async function read(file) {
  const source = ConfigSources.defaultForTargets({
    targets: [{ type: 'path', target: path.resolve(file) }],
    watch: false,
  });
  const config = await ConfigSources.toConfig(source);
  config.close();
  return config;
}

function usage() {
  console.error('usage: app-config-get.mjs [--boolean] FILE PATH | --dump PATH FILE...');
  process.exit(2);
}

const args = process.argv.slice(2);
if (args[0] === '--dump') {
  if (args.length < 3) usage();
  const [, key, ...files] = args;
  for (const file of files) {
    let line;
    try {
      const config = await read(file);
      line = { flag: config.getOptionalBoolean(key) ?? null, config: config.getOptional() ?? {} };
    } catch (error) {
      line = { error: String(error.message) };
    }
    console.log(JSON.stringify(line));
  }
} else {
  const boolean = args[0] === '--boolean';
  if (boolean) args.shift();
  if (args.length !== 2) usage();
  const [file, key] = args;
  try {
    const config = await read(file);
    const value = boolean ? config.getOptionalBoolean(key) : config.getOptional(key);
    console.log(JSON.stringify(value ?? null));
  } catch (error) {
    console.error(`app-config-get: ${file}: ${error.message}`);
    process.exit(1);
  }
}
