/** Lead scoring (probability_to_convert): training, scoring, metrics and the model artefact. */
export { computeVersion, LeadModelError, type LeadModel, type LeadModelErrorCode, MODEL_FORMAT, MODEL_FORMAT_VERSION, modelPath, parseModel, serializeModel } from './artefact';
export { accountFeaturesAsOf, type DealRecord, indexHistory, type InteractionRecord, LEAD_FEATURES, LEAD_LOG1P_FEATURES, leadTrainingRows } from './leadFeatures';
export { type FeatureValues, type LeadRow, score, timeSplit, train, type TrainOptions } from './leadModel';
export { brierScore, type CalibrationBin, calibrationBins, classifierMetrics, type ClassifierMetrics, logLoss, rocAuc } from './metrics';
