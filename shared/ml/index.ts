/** Lead scoring (probability_to_convert): training, scoring, metrics and the model artefact. */
export { computeVersion, LeadModelError, type LeadModel, type LeadModelErrorCode, MODEL_FORMAT, MODEL_FORMAT_VERSION, modelPath, parseModel, serializeModel } from './artefact';
export {
  accountFeaturesAsOf,
  type DealRecord,
  dealFeaturesAsOf,
  dealHorizon,
  dealLeadFeatures,
  indexHistory,
  type InteractionRecord,
  LEAD_ACCOUNT_FEATURES,
  LEAD_DEAL_FEATURES,
  LEAD_FEATURES,
  LEAD_HORIZON_DAYS,
  LEAD_LOG1P_FEATURES,
  leadTrainingRows,
  leadTrainingSet,
  type LeadTrainingSet,
  openDeals,
} from './leadFeatures';
export { type FeatureValues, type LeadRow, score, timeSplit, train, type TrainOptions } from './leadModel';
export { brierScore, type CalibrationBin, calibrationBins, classifierMetrics, type ClassifierMetrics, logLoss, rocAuc } from './metrics';
