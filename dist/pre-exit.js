"use strict";var i={group(r){process.stdout.write(`--- ${r}
`)},expandedGroup(r){process.stdout.write(`+++ ${r}
`)},openCurrentGroup(){process.stdout.write(`^^^ +++
`)},info(r){process.stdout.write(`${r}
`)},warn(r){process.stderr.write(`buildkit: warning: ${r}
`)},error(r){process.stderr.write(`buildkit: error: ${r}
`)}};var s=class extends Error{constructor(o,a=[]){super(o);this.details=a}details};function c(r){r().then(t=>{process.exitCode=t},t=>{t instanceof s?(i.error(t.message),t.details.forEach(o=>process.stderr.write(`  - ${o}
`))):(i.error(t instanceof Error?t.message:String(t)),process.env.BUILDKIT_PLUGIN_DEBUG&&t instanceof Error&&process.stderr.write(`${t.stack}
`)),process.exitCode=1})}var e=require("node:fs"),d=require("node:os"),n=require("node:path");function u(r){if(r.BUILDKIT_PLUGIN_STATE_DIR)return r.BUILDKIT_PLUGIN_STATE_DIR;let t=(0,n.join)(r.TMPDIR||(0,d.tmpdir)(),`buildkite-plugin-buildkit-${process.getuid?.()??0}`),o=(r.BUILDKITE_JOB_ID||"no-job-id").replace(/[^\w.-]/g,"_");return(0,n.join)(t,o)}function p(r){(0,e.rmSync)(r,{recursive:!0,force:!0})}c(async()=>(p(u(process.env)),0));
