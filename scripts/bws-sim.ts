/** `tsx scripts/bws-sim.ts --connection FILE …` = `edgecd simulate --connection FILE …`. */
process.argv.splice(2, 0, 'simulate');
await import('../src/cli.ts');
