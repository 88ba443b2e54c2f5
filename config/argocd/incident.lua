-- Argo CD health of ops.runbook.dev/Incident. Degraded when people are late: open and
-- unacknowledged past its response deadline (the Escalated condition), or Stalled.
-- Open within the deadline, acknowledged or mitigated: Progressing (being handled).
-- Resolved: Healthy.
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
local stalled, escalated, reconciling = condition("Stalled"), condition("Escalated"), condition("Reconciling")
local phase = obj.status.phase
local title = ""
if obj.spec ~= nil and obj.spec.severity ~= nil then title = obj.spec.severity .. " " end
if obj.spec ~= nil and obj.spec.title ~= nil then title = title .. obj.spec.title end
local deadline = ""
if obj.status.responseDeadline ~= nil then deadline = " (respond by " .. obj.status.responseDeadline .. ")" end
if phase == "Resolved" then
  hs.status = "Healthy"
  hs.message = "Resolved: " .. title
elseif stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = msg(stalled, "Incident response failed")
elseif phase == "Open" and escalated ~= nil and escalated.status == "True" then
  hs.status = "Degraded"
  hs.message = msg(escalated, "Unacknowledged past its response deadline") .. ": " .. title
elseif phase == "Open" then
  hs.message = "Open, awaiting acknowledgement" .. deadline .. ": " .. title
elseif phase == "Acknowledged" then
  local by = ""
  if obj.status.acknowledgement ~= nil and obj.status.acknowledgement.by ~= nil then by = " by " .. obj.status.acknowledgement.by end
  hs.message = "Acknowledged" .. by .. ": " .. title
elseif phase == "Mitigated" then
  hs.message = "Mitigated, awaiting resolution: " .. title
else
  hs.message = msg(reconciling, "Opening incident " .. title)
end
return hs
