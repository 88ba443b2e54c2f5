-- Argo CD health of ops.runbook.dev/BackupSchedule: Suspended while spec.suspend;
-- Degraded when the latest backup failed or the schedule is invalid.
if obj.spec ~= nil and obj.spec.suspend == true then
  return { status = "Suspended", message = "Schedule suspended: no new backups are created" }
end
local function condition(t)
  if obj.status == nil or obj.status.conditions == nil then return nil end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then return c end
  end
  return nil
end
local function msg(c, default)
  if c ~= nil and c.message ~= nil and c.message ~= "" then return c.message end
  return default
end
local hs = { status = "Progressing", message = "Waiting for the controller to report status" }
if obj.status == nil then return hs end
local gen = obj.metadata.generation
local observed = obj.status.observedGeneration
if gen ~= nil and observed ~= nil and observed < gen then
  hs.message = "Waiting for the controller to observe generation " .. gen
  return hs
end
local ready, stalled, reconciling = condition("Ready"), condition("Stalled"), condition("Reconciling")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = msg(stalled, "Schedule is invalid")
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = msg(ready, "Latest backup completed")
elseif ready ~= nil and ready.status == "False" and ready.reason == "BackupFailed" then
  hs.status = "Degraded"
  hs.message = msg(ready, "The latest backup failed")
else
  hs.message = msg(ready, "Waiting for the first backup")
end
return hs
