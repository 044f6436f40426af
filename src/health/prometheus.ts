/** /metrics: the station snapshot in Prometheus's text exposition format. */
import type { StationHealth } from './station.ts';

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function prometheusText(h: StationHealth): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: [Record<string, string>, number | null][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      if (value === null) continue;
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${esc(v)}"`)
        .join(',');
      lines.push(`${name}${l ? `{${l}}` : ''} ${value}`);
    }
  };
  metric('edgecd_info', 'gauge', 'edgecd version', [[{ version: h.version }, 1]]);
  metric('edgecd_uptime_seconds', 'gauge', 'Seconds since the daemon started', [[{}, h.uptimeSeconds]]);
  metric('edgecd_ready', 'gauge', '1 when the daemon serves storage requests', [[{}, h.ready ? 1 : 0]]);
  metric(
    'edgecd_requests_total',
    'counter',
    'Requests answered, by method and status',
    Object.entries(h.requests.totals).map(([k, n]) => {
      const [method, status] = k.split(' ') as [string, string];
      return [{ method, status }, n];
    }),
  );
  metric('edgecd_upload_bytes_total', 'counter', 'Object bytes stored by uploads', [[{}, h.requests.uploadBytes]]);
  metric('edgecd_uploads_in_flight', 'gauge', 'Uploads being received', [[{}, h.load.uploads]]);
  metric('edgecd_requests_in_flight', 'gauge', 'Requests being served', [[{}, h.load.requests]]);
  metric('edgecd_requests_waiting', 'gauge', 'Requests waiting for an admission slot', [[{}, h.load.waiting]]);
  metric('edgecd_admission_refused_total', 'counter', 'Requests refused with 503 by admission control', [[{}, h.load.refused]]);
  metric('edgecd_event_loop_delay_seconds', 'gauge', 'Event-loop delay, p99 over the last second', [[{}, h.load.eventLoopDelayMs / 1000]]);
  metric('edgecd_disk_bytes', 'gauge', 'Data filesystem size and free space', [
    [{ kind: 'total' }, h.storage.totalBytes],
    [{ kind: 'free' }, h.storage.freeBytes],
  ]);
  metric('edgecd_stored_bytes', 'gauge', 'Object bytes stored', [[{}, h.storage.usedBytes]]);
  metric('edgecd_reserved_bytes', 'gauge', 'Bytes admitted for uploads in flight', [[{}, h.storage.reservedBytes]]);
  metric('edgecd_quota_bytes', 'gauge', 'quota.maxBytes (0 = the disk)', [[{}, h.storage.quotaBytes]]);
  metric('edgecd_storage_used_ratio', 'gauge', 'Share of the quota (or the disk) in use', [[{}, h.storage.usedPercent / 100]]);
  metric('edgecd_storage_read_only', 'gauge', '1 when the data filesystem is read-only', [[{}, h.storage.readOnly ? 1 : 0]]);
  metric('edgecd_cpu_temperature_celsius', 'gauge', 'CPU temperature, where the hardware reports it', [[{}, h.system.cpuTemperatureC]]);
  metric('edgecd_cpu_throttled', 'gauge', 'Raspberry Pi throttling flags (get_throttled)', [[{}, h.system.throttled === null ? null : Number.parseInt(h.system.throttled, 16)]]);
  metric('edgecd_load1', 'gauge', '1-minute load average', [[{}, h.system.load[0]]]);
  metric('edgecd_process_resident_bytes', 'gauge', 'Resident memory of the daemon', [[{}, h.system.memory.processRssBytes]]);
  metric('edgecd_memory_available_bytes', 'gauge', 'Memory available on the host', [[{}, h.system.memory.availableBytes]]);
  metric('edgecd_clock_synchronised', 'gauge', '1 when the host clock is known to be synchronised', [[{ source: h.clock.source }, h.clock.synchronised ? 1 : 0]]);
  metric('edgecd_audit_trail_writable', 'gauge', '1 while the audit trail takes lines; 0 stops every storage request until a restart', [[{}, h.audit.writable ? 1 : 0]]);
  metric('edgecd_tls_certificate_days_left', 'gauge', 'Days until the first HTTPS certificate expires (edgecd cert renew)', [[{}, h.tls.daysUntilExpiry]]);
  const targets = h.replication?.targets ?? [];
  metric(
    'edgecd_replication_backlog_bytes',
    'gauge',
    'Bytes of sealed recordings still to replicate, by target',
    targets.map((t) => [{ target: t.name }, t.backlog.bytes]),
  );
  metric(
    'edgecd_replication_backlog_oldest_seconds',
    'gauge',
    'Age of the oldest change waiting for a target (0: nothing waits)',
    targets.map((t) => [{ target: t.name }, t.backlog.oldestEnqueuedAt === undefined ? 0 : Math.max(0, (Date.now() - t.backlog.oldestEnqueuedAt) / 1000)]),
  );
  metric(
    'edgecd_replication_backlog_jobs',
    'gauge',
    'Queued replication jobs (due, waiting out a backoff, refused)',
    targets.flatMap(
      (t) =>
        [
          [{ target: t.name, state: 'due' }, t.backlog.jobs],
          [{ target: t.name, state: 'waiting' }, t.backlog.waiting],
          [{ target: t.name, state: 'refused' }, t.backlog.failed],
        ] as [Record<string, string>, number][],
    ),
  );
  metric(
    'edgecd_replication_held_back',
    'gauge',
    'Objects (and rejected-content containers) a target cannot take yet, by the capability it lacks',
    targets.flatMap((t) => Object.entries(t.heldBack).map(([capability, n]) => [{ target: t.name, capability }, n ?? 0] as [Record<string, string>, number])),
  );
  metric(
    'edgecd_replication_confirmation',
    'gauge',
    'The strongest confirmation a target allowed at its last pass (1 on the level label); acknowledged means its evidence is not verified',
    targets.filter((t) => t.confirmation.level).map((t) => [{ target: t.name, level: t.confirmation.level! }, 1]),
  );
  metric(
    'edgecd_replication_alarm',
    'gauge',
    '1 while a target is paused (full, or refusing the credentials)',
    targets.map((t) => [{ target: t.name, reason: t.alarm?.reason ?? '' }, t.alarm ? 1 : 0]),
  );
  metric('edgecd_unrecognised_containers', 'gauge', 'Containers whose names are not a recording, rejected content or a registry (kept and replicated as they are)', [
    [{}, h.containers.unrecognisedName.count],
  ]);
  const video = h.video;
  metric('edgecd_video_check_queued', 'gauge', 'Sealed recordings waiting for their signed-video check', [[{}, video.queued]]);
  metric(
    'edgecd_video_recordings_24h',
    'gauge',
    'Recordings checked in the last 24 hours, by the verdict of their worst clip',
    Object.entries(video.last24h.recordings).map(([verdict, n]) => [{ verdict }, n]),
  );
  metric('edgecd_video_disagreements_24h', 'gauge', "Clips checked in the last 24 hours whose verdict differs from their sender's", [[{}, video.last24h.disagreements]]);
  metric('edgecd_video_alarm', 'gauge', 'Recordings of the last 24 hours that are tampered or disputed', [[{}, video.last24h.alarms.length]]);
  metric('edgecd_legal_holds', 'gauge', 'Legal holds in force', [[{}, h.holds.active]]);
  metric('edgecd_eviction_blocked_by_holds', 'gauge', '1 when legal holds kept the last eviction from freeing enough (uploads may get 507)', [
    [{}, h.holds.blockingEviction ? 1 : 0],
  ]);
  const last = h.retention.lastRun;
  metric('edgecd_retention_last_run_deleted', 'gauge', 'Recordings the last retention run deleted (into the trash)', [[{}, last ? last.deleted : null]]);
  metric('edgecd_retention_last_run_timestamp_seconds', 'gauge', 'When the retention job last ran', [[{}, last ? Date.parse(last.at) / 1000 : null]]);
  const ntp = h.clock.ntp;
  metric('edgecd_ntp_replies_total', 'counter', 'NTP requests answered', [[{}, ntp ? ntp.served : null]]);
  metric('edgecd_ntp_dropped_total', 'counter', 'NTP datagrams dropped as malformed or unsupported', [[{}, ntp ? ntp.dropped : null]]);
  metric('edgecd_ntp_kiss_of_death_total', 'counter', "NTP rate-limit Kiss-o'-Death replies", [[{}, ntp ? ntp.kissOfDeath : null]]);
  metric('edgecd_ntp_mode', 'gauge', 'How the NTP server answers (synchronised, local-stratum, unsynchronised)', ntp ? [[{ mode: ntp.mode }, 1]] : []);
  return lines.join('\n') + '\n';
}
